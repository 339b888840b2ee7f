// SerialState: the plain snapshot state of the 16550A UART (registers and pending input).
#pragma once

#include <cstdint>
#include <vector>

namespace snapfaas::runner {

/// Saved by Serial::save(), restored by Serial::restore().
struct SerialState {
  std::uint8_t dll = 0x0c;  ///< divisor latch low (DLAB=1, offset 0): 9600 baud
  std::uint8_t dlm = 0;     ///< divisor latch high (DLAB=1, offset 1)
  std::uint8_t ier = 0;     ///< interrupt enable
  std::uint8_t lcr = 0x03;  ///< line control: 8N1
  std::uint8_t mcr = 0x08;  ///< modem control: OUT2
  std::uint8_t scr = 0;     ///< scratch
  bool thre_pending = false;       ///< THR-empty interrupt pending (cleared by an IIR read)
  bool fifo_enabled = false;       ///< FCR bit 0 set: IIR reports FIFOs (16550A)
  std::vector<std::uint8_t> input; ///< received bytes not yet read from RBR

  friend bool operator==(const SerialState&, const SerialState&) = default;
};

}  // namespace snapfaas::runner
