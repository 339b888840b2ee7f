// I8042State: the plain snapshot state of the i8042 controller (registers and output buffer).
#pragma once

#include <cstdint>
#include <vector>

namespace snapfaas::runner {

/// Saved by I8042::save(), restored by I8042::restore().
struct I8042State {
  std::uint8_t status = 0x14;   ///< status register: keyboard enabled | system flag
  std::uint8_t control = 0x05;  ///< controller configuration byte: kbd interrupt | POST ok
  std::uint8_t outp = 0;        ///< output port
  std::uint8_t cmd = 0;         ///< command awaiting its data byte on port 0x60
  std::vector<std::uint8_t> output;  ///< bytes waiting to be read from port 0x60

  friend bool operator==(const I8042State&, const I8042State&) = default;
};

}  // namespace snapfaas::runner
