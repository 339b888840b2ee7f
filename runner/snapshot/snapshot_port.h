// SnapshotPort: the PIO device behind SNAPFAAS_PORT_SNAPSHOT (snapshot_abi.h). A guest write
// records a request; the VMM notices it (requested()), pauses, saves, and calls mark_taken().
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>

#include "runner/devices/bus.h"

namespace snapfaas::runner::snapshot {

/// Thread-safe. `on_request(tag)` (optional) runs on the vCPU thread that wrote the port; it must
/// not block on that vCPU pausing (the vCPU is inside the exit handler).
class SnapshotPort : public BusDevice {
 public:
  /// `restored`: this VM was restored from a snapshot (reads answer RESTORED until the next request).
  explicit SnapshotPort(bool restored, std::function<void(std::uint32_t)> on_request = {});

  void read(std::uint64_t offset, std::span<std::uint8_t> data) noexcept override;
  void write(std::uint64_t offset, std::span<const std::uint8_t> data) noexcept override;

  /// True between a guest request and mark_taken(); `tag` gets the written value.
  [[nodiscard]] bool requested(std::uint32_t* tag = nullptr) const noexcept;
  /// The snapshot was written: reads now answer TAKEN.
  void mark_taken() noexcept;

 private:
  std::function<void(std::uint32_t)> on_request_;
  // status_: written by vCPU threads (request) and the VMM (mark_taken), release/acquire pairs.
  std::atomic<std::uint32_t> status_;
  std::atomic<std::uint32_t> tag_{0};
  std::atomic<bool> pending_{false};
};

}  // namespace snapfaas::runner::snapshot
