// Index checks for the SPSC ring and the ring observer: the only place a peer's ring index is judged.
#include "ipc/ring.h"

namespace snapfaas::ipc {

namespace {
// Free-running counters: a "negative" difference means the first is behind the second.
bool behind(std::uint64_t a, std::uint64_t b) noexcept { return static_cast<std::int64_t>(a - b) < 0; }
}  // namespace

RingSection ring_section_at(std::uint8_t* ring, std::uint32_t capacity) noexcept {
  // SAFETY: the caller passes the start of a ring section of a validated layout (page-aligned,
  // followed by kRingEntriesOffset + capacity entries inside its mapping); RingIndices holds plain
  // uint64 counters, so any bit pattern a peer wrote is a valid (if untrusted) value.
  return RingSection{reinterpret_cast<RingIndices*>(ring), ring + kRingEntriesOffset, capacity};
}

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

Result<std::uint64_t> RingObserver::pending() noexcept {
  // Neither index is ours, and both may move while we look: load head, tail, head again and judge
  // the pair only when head did not move in between (then that head and tail coexisted, and an
  // honest pair is never more than capacity apart nor backwards). A consumer that keeps popping
  // gets a few retries; after that the last pair is judged as it is (a hostile peer's problem).
  // Acquire on head pairs with the consumer's release store of head; acquire on tail pairs with
  // the producer's release store of tail.
  auto head = std::atomic_ref(indices_->head);
  auto tail = std::atomic_ref(indices_->tail);
  last_head_ = head.load(std::memory_order_acquire);
  for (int attempt = 0; attempt < kStableAttempts; ++attempt) {
    last_tail_ = tail.load(std::memory_order_acquire);
    const std::uint64_t again = head.load(std::memory_order_acquire);
    if (again == last_head_) break;
    last_head_ = again;
  }
  if (behind(last_tail_, last_head_)) return IpcError::kIndexBackwards;
  if (last_tail_ - last_head_ > capacity_) return IpcError::kIndexAhead;
  return last_tail_ - last_head_;
}

std::uint64_t RingObserver::pushed() const noexcept {
  // ACQUIRE pairs with the producer's release store of tail.
  return std::atomic_ref(indices_->tail).load(std::memory_order_acquire);
}

}  // namespace snapfaas::ipc
