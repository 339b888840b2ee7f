// SPSC ring over a ring section of a shared region (layout in ipc/channel_layout.h): a producer
// end, a consumer end (usually in different processes) and a read-only observer for a third party.
// Each end keeps its own index and a cached copy of the other's; every index loaded from shared
// memory is checked before use. Nothing outside ipc/ touches RingIndices directly.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>

#include "ipc/channel_layout.h"
#include "ipc/ipc_error.h"

namespace snapfaas::ipc {

static_assert(std::atomic_ref<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic_ref<std::uint64_t>::required_alignment <= alignof(std::uint64_t));

/// Where a ring lives: its indices and `capacity` entries (capacity a power of two). Built by
/// ChannelView from a validated header, or by tests over private memory.
struct RingSection {
  RingIndices* indices = nullptr;
  void* entries = nullptr;
  std::uint32_t capacity = 0;
};

/// The ring section whose RingIndices start at `ring` (entries follow at +kRingEntriesOffset).
/// `ring` must point into a mapping of at least kRingEntriesOffset + capacity * entry size bytes,
/// 64-byte aligned (sections start on a page of a validated layout).
[[nodiscard]] RingSection ring_section_at(std::uint8_t* ring, std::uint32_t capacity) noexcept;

/// Checks a tail loaded by the consumer: it may not move backwards (below `last_tail`) nor be more
/// than `capacity` ahead of the consumer's own `head`.
[[nodiscard]] Status check_tail(std::uint64_t head, std::uint64_t last_tail, std::uint64_t tail,
                                std::uint32_t capacity) noexcept;
/// Checks a head loaded by the producer: it may not move backwards (below `last_head`), pass the
/// producer's own `tail`, or lag more than `capacity` behind it.
[[nodiscard]] Status check_head(std::uint64_t tail, std::uint64_t last_head, std::uint64_t head,
                                std::uint32_t capacity) noexcept;

/// Producer end. Exactly one producer per ring; not thread-safe. Elements are copy-constructed
/// into the ring; cross-process element types must be trivially copyable (the peer reads bytes).
template <typename T>
class RingProducer {
 public:
  static_assert(std::is_nothrow_copy_constructible_v<T> && std::is_nothrow_destructible_v<T>);

  RingProducer() noexcept = default;
  /// Attaches to `section`, continuing from the tail stored there (0 in a fresh region).
  explicit RingProducer(RingSection section) noexcept
      : indices_(section.indices),
        entries_(static_cast<T*>(section.entries)),
        capacity_(section.capacity),
        tail_(std::atomic_ref(indices_->tail).load(std::memory_order_relaxed)),  // own index
        cached_head_(std::atomic_ref(indices_->head).load(std::memory_order_acquire)) {}

  /// Pushes a copy of `value`; kRingFull (nothing constructed) when there is no room, an index
  /// error when the consumer's head is corrupt.
  [[nodiscard]] Status try_push(const T& value) noexcept {
    if (tail_ - cached_head_ >= capacity_) {
      // Acquire pairs with the consumer's release store of head: the entry there has been read.
      const std::uint64_t head = std::atomic_ref(indices_->head).load(std::memory_order_acquire);
      if (Status s = check_head(tail_, cached_head_, head, capacity_); !s) return s;
      cached_head_ = head;
      if (tail_ - head >= capacity_) return IpcError::kRingFull;
    }
    std::construct_at(entries_ + (tail_ & (capacity_ - 1)), value);
    // Release pairs with the consumer's acquire load of tail: the entry is visible before the index.
    std::atomic_ref(indices_->tail).store(++tail_, std::memory_order_release);
    return {};
  }

  /// Entries pushed and not yet known to be consumed (reloads head; index errors count as full).
  [[nodiscard]] std::uint64_t pending() noexcept {
    const std::uint64_t head = std::atomic_ref(indices_->head).load(std::memory_order_acquire);
    if (!check_head(tail_, cached_head_, head, capacity_)) return capacity_;
    cached_head_ = head;
    return tail_ - head;
  }

  [[nodiscard]] std::uint32_t capacity() const noexcept { return capacity_; }

 private:
  RingIndices* indices_ = nullptr;
  T* entries_ = nullptr;
  std::uint32_t capacity_ = 0;
  std::uint64_t tail_ = 0;         // private copy of our index (never re-read from shared memory)
  std::uint64_t cached_head_ = 0;  // last validated head
};

/// Consumer end. Exactly one consumer per ring; not thread-safe. Each popped element is moved out
/// and its ring copy destroyed.
template <typename T>
class RingConsumer {
 public:
  static_assert(std::is_nothrow_move_constructible_v<T> && std::is_nothrow_destructible_v<T>);

  RingConsumer() noexcept = default;
  /// Attaches to `section`, continuing from the head stored there (0 in a fresh region).
  explicit RingConsumer(RingSection section) noexcept
      : indices_(section.indices),
        entries_(static_cast<T*>(section.entries)),
        capacity_(section.capacity),
        head_(std::atomic_ref(indices_->head).load(std::memory_order_relaxed)),  // own index
        cached_tail_(head_) {}

  /// Pops the oldest element; kRingEmpty when there is none, an index error when the producer's
  /// tail moved backwards or ran more than capacity ahead.
  [[nodiscard]] Result<T> try_pop() noexcept {
    if (head_ == cached_tail_) {
      // Acquire pairs with the producer's release store of tail: the entry's bytes are visible.
      const std::uint64_t tail = std::atomic_ref(indices_->tail).load(std::memory_order_acquire);
      if (Status s = check_tail(head_, cached_tail_, tail, capacity_); !s) return s.error();
      cached_tail_ = tail;
      if (head_ == tail) return IpcError::kRingEmpty;
    }
    T* entry = entries_ + (head_ & (capacity_ - 1));
    Result<T> out(std::move(*entry));
    std::destroy_at(entry);
    // Release pairs with the producer's acquire load of head: we are done reading this entry.
    std::atomic_ref(indices_->head).store(++head_, std::memory_order_release);
    return out;
  }

  /// True when try_pop() would not return kRingEmpty (an element, or an index error to report).
  /// Usable as a Doorbell::wait predicate. Compares the loaded tail only with this end's PRIVATE
  /// head, never with the head stored in shared memory (a hostile peer may write that one).
  /// Same thread as try_pop (reads the private indices without synchronisation).
  [[nodiscard]] bool readable() const noexcept {
    return head_ != cached_tail_ ||
           std::atomic_ref(indices_->tail).load(std::memory_order_acquire) != head_;  // pairs as in try_pop
  }

  [[nodiscard]] std::uint32_t capacity() const noexcept { return capacity_; }

 private:
  RingIndices* indices_ = nullptr;
  T* entries_ = nullptr;
  std::uint32_t capacity_ = 0;
  std::uint64_t head_ = 0;         // private copy of our index (never re-read from shared memory)
  std::uint64_t cached_tail_ = 0;  // last validated tail
};

/// Read-only observer of a ring for a party that is neither its producer nor its consumer (the
/// runner watching the request ring a guest consumes, to answer WAIT). Both indices are untrusted:
/// each call loads them afresh and judges them; nothing is cached, no entry is ever read and
/// nothing is stored in shared memory. Copyable.
class RingObserver {
 public:
  RingObserver() noexcept = default;
  /// Observes `section` (only its indices and capacity are used).
  explicit RingObserver(RingSection section) noexcept : indices_(section.indices), capacity_(section.capacity) {}

  /// Entries pushed and not yet consumed (tail - head, from a pair that coexisted: head is loaded
  /// again after tail); kIndexBackwards when the tail is behind the head, kIndexAhead when they are
  /// more than capacity apart. Records the loaded indices for an error message. One thread per
  /// observer object (it keeps the last indices).
  [[nodiscard]] Result<std::uint64_t> pending() noexcept;

  /// Entries pushed so far: the producer's count (tail), loaded with ACQUIRE. Never checked
  /// against the head, so only good for "has the producer pushed since": it never decides a read.
  [[nodiscard]] std::uint64_t pushed() const noexcept;

  /// Indices loaded by the last pending() (0 before any call): for log lines only.
  [[nodiscard]] std::uint64_t last_head() const noexcept { return last_head_; }
  [[nodiscard]] std::uint64_t last_tail() const noexcept { return last_tail_; }
  [[nodiscard]] std::uint32_t capacity() const noexcept { return capacity_; }

 private:
  static constexpr int kStableAttempts = 4;  // head re-loads before a moving pair is judged anyway

  RingIndices* indices_ = nullptr;
  std::uint32_t capacity_ = 0;
  std::uint64_t last_head_ = 0;
  std::uint64_t last_tail_ = 0;
};

}  // namespace snapfaas::ipc
