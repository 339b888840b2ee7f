// Serial: a 16550A UART on the port-I/O bus at 0x3f8 (8 ports), the guest console.
// Output goes to a host fd; input can be queued by the host; interrupts via an Interrupt line.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "runner/devices/bus.h"
#include "runner/devices/interrupt.h"
#include "runner/devices/legacy/serial_state.h"

namespace snapfaas::runner {

inline constexpr std::uint64_t kSerialPort = 0x3f8;  // COM1
inline constexpr std::uint64_t kSerialPortCount = 8;
inline constexpr std::uint32_t kSerialIrq = 4;

/// The guest's console UART. read()/write() come from vCPU threads and enqueue_input() from any
/// thread: all serialised by an internal mutex.
///
/// It reports FIFOs (IIR bits 7:6 once FCR enables them), as Firecracker's UART does, so that
/// Linux's 8250 driver takes it for a 16550A and writes up to 16 bytes per THR-empty interrupt
/// instead of one: each byte is an exit to the VMM either way, but a 16450 also costs an
/// interrupt and its IIR/LSR reads per byte (the agent's 95-byte restore line took ~50 ms of a
/// cold start in the emulated host). The transmitter still sends each byte at once.
///
/// Interrupts follow a real 16450: a THR-empty interrupt is raised when IER.ETBEI is enabled
/// while the transmitter is empty and after each transmitted byte (Linux's 8250 driver relies on
/// this to make progress without polling), and cleared by reading IIR or writing THR; a
/// data-ready interrupt is raised when input arrives with IER.ERBFI set.
///
/// Output is buffered and written to `out_fd` on a newline, when 512 bytes accumulate, when the
/// driver stops transmitting (clears IER.ETBEI), on flush() and on destruction.
class Serial final : public BusDevice {
 public:
  /// `irq` may be null (no interrupts). `out_fd` is not owned and must outlive the device; -1
  /// discards output.
  Serial(std::shared_ptr<Interrupt> irq, int out_fd);
  ~Serial() override;
  Serial(const Serial&) = delete;
  Serial& operator=(const Serial&) = delete;

  void read(std::uint64_t offset, std::span<std::uint8_t> data) noexcept override;
  void write(std::uint64_t offset, std::span<const std::uint8_t> data) noexcept override;

  /// Queues bytes for the guest to read from RBR (bounded: returns how many were accepted).
  std::size_t enqueue_input(std::span<const std::uint8_t> bytes) noexcept;
  /// Writes out buffered console output.
  void flush() noexcept;

  [[nodiscard]] SerialState save() const;
  /// A device in the saved register state (output buffer empty). Throws common::Error if the
  /// state is out of range (more input than the device accepts).
  static std::unique_ptr<Serial> restore(std::shared_ptr<Interrupt> irq, int out_fd, const SerialState& state);

  /// Most bytes of host input held at once.
  static constexpr std::size_t kInputCapacity = 4096;

 private:
  [[nodiscard]] std::uint8_t read_register(std::uint64_t offset) noexcept;
  void write_register(std::uint64_t offset, std::uint8_t value) noexcept;
  void transmit(std::uint8_t byte) noexcept;
  void raise() noexcept;
  void flush_locked() noexcept;
  [[nodiscard]] bool dlab() const noexcept { return (lcr_ & 0x80) != 0; }
  [[nodiscard]] bool loopback() const noexcept { return (mcr_ & 0x10) != 0; }

  mutable std::mutex mu_;
  std::shared_ptr<Interrupt> irq_;
  int out_fd_;
  std::string out_;  // pending console output
  bool write_failed_ = false;
  std::deque<std::uint8_t> input_;
  std::uint8_t dll_ = 0x0c;
  std::uint8_t dlm_ = 0;
  std::uint8_t ier_ = 0;
  std::uint8_t lcr_ = 0x03;
  std::uint8_t mcr_ = 0x08;
  std::uint8_t scr_ = 0;
  bool thre_pending_ = false;
  bool fifo_enabled_ = false;  // FCR bit 0: IIR reports FIFOs
};

}  // namespace snapfaas::runner
