// Index checks for the SPSC ring: the only place a peer's ring index is judged.
#include "ipc/ring.h"

namespace snapfaas::ipc {

namespace {
// Free-running counters: a "negative" difference means the first is behind the second.
bool behind(std::uint64_t a, std::uint64_t b) noexcept { return static_cast<std::int64_t>(a - b) < 0; }
}  // namespace

Status check_tail(std::uint64_t head, std::uint64_t last_tail, std::uint64_t tail,
                  std::uint32_t capacity) noexcept {
  if (behind(tail, last_tail) || behind(tail, head)) return IpcError::kIndexBackwards;
  if (tail - head > capacity) return IpcError::kIndexAhead;
  return {};
}

Status check_head(std::uint64_t tail, std::uint64_t last_head, std::uint64_t head,
                  std::uint32_t capacity) noexcept {
  if (behind(head, last_head)) return IpcError::kIndexBackwards;
  if (behind(tail, head)) return IpcError::kIndexAhead;
  if (tail - head > capacity) return IpcError::kIndexBackwards;
  return {};
}

}  // namespace snapfaas::ipc
