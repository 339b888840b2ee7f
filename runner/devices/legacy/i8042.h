// I8042: the PS/2 controller at ports 0x60 (data) and 0x64 (status/command), emulated just
// enough for Linux to probe it and to reboot through it (command 0xFE pulses the CPU reset line).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>

#include "runner/devices/bus.h"
#include "runner/devices/interrupt.h"
#include "runner/devices/legacy/i8042_state.h"

namespace snapfaas::runner {

/// Bus placement: one device covering ports 0x60..0x64 (offset 0 data, offset 4 status/command).
inline constexpr std::uint64_t kI8042Port = 0x60;
inline constexpr std::uint64_t kI8042PortCount = 5;
inline constexpr std::uint32_t kI8042KbdIrq = 1;

/// The i8042, as Firecracker emulates it: read/write the control byte and output port, self tests
/// answered as passed, keyboard commands acknowledged with 0xFA, and 0xFE (reset CPU) calling
/// `on_reset`. Linux boots faster with "i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd" on the
/// command line (no aux port or keyboard probing), and "reboot=k" makes `reboot` use 0xFE.
/// read()/write() come from vCPU threads and are serialised by an internal mutex.
class I8042 final : public BusDevice {
 public:
  /// `on_reset` runs on the vCPU thread that wrote 0xFE (it should only request a stop, e.g. set a
  /// flag and kick the vCPUs; it must not call back into this device). `kbd_irq` (IRQ 1) may be
  /// null: then keyboard acknowledgements are polled by the guest.
  explicit I8042(std::function<void()> on_reset, std::shared_ptr<Interrupt> kbd_irq = nullptr);

  void read(std::uint64_t offset, std::span<std::uint8_t> data) noexcept override;
  void write(std::uint64_t offset, std::span<const std::uint8_t> data) noexcept override;

  [[nodiscard]] I8042State save() const;
  /// Throws common::Error if the saved output buffer is larger than the device holds.
  static std::unique_ptr<I8042> restore(std::function<void()> on_reset, std::shared_ptr<Interrupt> kbd_irq,
                                        const I8042State& state);

  static constexpr std::size_t kBufferSize = 16;

 private:
  void push(std::uint8_t byte) noexcept;
  void respond(std::uint8_t byte) noexcept;  // flush, push, and raise IRQ 1 if enabled

  mutable std::mutex mu_;
  std::function<void()> on_reset_;
  std::shared_ptr<Interrupt> kbd_irq_;
  std::uint8_t status_ = 0x14;
  std::uint8_t control_ = 0x05;
  std::uint8_t outp_ = 0;
  std::uint8_t cmd_ = 0;
  std::deque<std::uint8_t> output_;
};

}  // namespace snapfaas::runner
