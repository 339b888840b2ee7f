// VirtioInterrupt: the virtio-mmio InterruptStatus register plus the guest line it raises.
// Devices signal used buffers / config changes through it; the transport reads and acks it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <utility>

#include "runner/devices/interrupt.h"

namespace snapfaas::runner::virtio {

/// InterruptStatus bits (virtio 1.x §4.2.2).
inline constexpr std::uint32_t kInterruptUsedBuffer = 1;
inline constexpr std::uint32_t kInterruptConfigChange = 2;

/// Shared by one transport and its device. All calls are thread-safe (an atomic status word;
/// the line's trigger() is thread-safe by contract).
class VirtioInterrupt {
 public:
  /// `line` may be null (no interrupt is injected; the status bits still change).
  explicit VirtioInterrupt(std::shared_ptr<Interrupt> line) noexcept : line_(std::move(line)) {}

  /// Sets InterruptStatus bit 0 and injects an edge.
  void signal_used() noexcept { signal(kInterruptUsedBuffer); }
  /// Sets InterruptStatus bit 1 and injects an edge.
  void signal_config() noexcept { signal(kInterruptConfigChange); }

  [[nodiscard]] std::uint32_t status() const noexcept { return status_.load(std::memory_order_acquire); }
  /// InterruptACK: clears `bits`.
  void ack(std::uint32_t bits) noexcept { status_.fetch_and(~bits, std::memory_order_acq_rel); }
  /// Sets the status word (reset and snapshot restore).
  void set_status(std::uint32_t bits) noexcept { status_.store(bits, std::memory_order_release); }

 private:
  void signal(std::uint32_t bit) noexcept {
    // Release: pairs with the acquire load in status() on the vCPU reading InterruptStatus, so
    // the used-ring updates made before signalling are visible to whoever observes the bit.
    status_.fetch_or(bit, std::memory_order_release);
    if (line_) line_->trigger();
  }

  std::atomic<std::uint32_t> status_{0};
  std::shared_ptr<Interrupt> line_;
};

}  // namespace snapfaas::runner::virtio
