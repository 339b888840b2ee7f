// SnapshotPort: request/answer protocol of the ring-3 snapshot point.
#include "runner/snapshot/snapshot_port.h"

#include <cstring>

#include "runner/snapshot/snapshot_abi.h"

namespace snapfaas::runner::snapshot {

SnapshotPort::SnapshotPort(bool restored, std::function<void(std::uint32_t)> on_request)
    : on_request_(std::move(on_request)),
      status_(restored ? SNAPFAAS_SNAPSHOT_RESTORED : SNAPFAAS_SNAPSHOT_PENDING) {}

void SnapshotPort::read(std::uint64_t offset, std::span<std::uint8_t> data) noexcept {
  const std::uint32_t v = offset == 0 ? status_.load(std::memory_order_acquire) : 0xffffffffu;
  std::memset(data.data(), 0, data.size());
  std::memcpy(data.data(), &v, std::min(data.size(), sizeof v));
}

void SnapshotPort::write(std::uint64_t offset, std::span<const std::uint8_t> data) noexcept {
  if (offset != 0) return;
  std::uint32_t tag = 0;
  std::memcpy(&tag, data.data(), std::min(data.size(), sizeof tag));
  tag_.store(tag, std::memory_order_relaxed);
  status_.store(SNAPFAAS_SNAPSHOT_PENDING, std::memory_order_relaxed);
  pending_.store(true, std::memory_order_release);  // pairs with the acquire in requested()
  if (on_request_) on_request_(tag);
}

bool SnapshotPort::requested(std::uint32_t* tag) const noexcept {
  if (!pending_.load(std::memory_order_acquire)) return false;
  if (tag != nullptr) *tag = tag_.load(std::memory_order_relaxed);
  return true;
}

void SnapshotPort::mark_taken() noexcept {
  pending_.store(false, std::memory_order_relaxed);
  status_.store(SNAPFAAS_SNAPSHOT_TAKEN, std::memory_order_release);  // pairs with read()'s acquire
}

}  // namespace snapfaas::runner::snapshot
