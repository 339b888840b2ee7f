// TestMmio: the MMIO window ring-3 test guests probe (reads answered with a pattern, writes
// recorded); the protocol is in ring3_abi.h.
#pragma once

#include <atomic>
#include <cstdint>

#include "runner/devices/bus.h"

namespace snapfaas::runner {

/// Placed on the MMIO bus at SNAPFAAS_MMIO_BASE. Thread-safe.
class TestMmio : public BusDevice {
 public:
  void read(std::uint64_t offset, std::span<std::uint8_t> data) noexcept override;
  void write(std::uint64_t offset, std::span<const std::uint8_t> data) noexcept override;

  [[nodiscard]] std::uint64_t last_write() const noexcept { return last_.load(std::memory_order_acquire); }
  [[nodiscard]] std::uint64_t writes() const noexcept { return writes_.load(std::memory_order_acquire); }

 private:
  std::atomic<std::uint64_t> last_{0};
  std::atomic<std::uint64_t> writes_{0};
};

}  // namespace snapfaas::runner
