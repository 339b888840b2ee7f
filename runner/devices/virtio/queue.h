// Queue: the device side of one split virtqueue (virtio 1.x §2.7): descriptor table, available
// ring and used ring live in guest memory and are reached only through GuestMemory.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "runner/devices/virtio/queue_state.h"
#include "runner/memory/guest_memory.h"

namespace snapfaas::runner::virtio {

/// Feature bits that concern the ring itself (virtio 1.x §6).
inline constexpr unsigned kFeatureRingIndirectDesc = 28;  // VIRTIO_RING_F_INDIRECT_DESC
inline constexpr unsigned kFeatureRingEventIdx = 29;      // VIRTIO_RING_F_EVENT_IDX
/// Largest queue size a split virtqueue may have (§2.7).
inline constexpr std::uint16_t kMaxQueueSize = 32768;

/// One guest buffer of a descriptor chain, already checked to lie inside guest memory.
struct Buffer {
  std::uint64_t gpa = 0;
  std::uint32_t len = 0;
  bool device_writable = false;  ///< VIRTQ_DESC_F_WRITE: the device writes it, the driver reads it
};

/// One popped request: the head index (to hand back through add_used) and its buffers in order.
/// Reuse one DescriptorChain across pops; walking clears `buffers` without freeing capacity.
struct DescriptorChain {
  std::uint16_t head = 0;
  std::vector<Buffer> buffers;
};

/// Outcome of Queue::pop. kOk and kEmpty are normal; the rest describe a driver bug or an attack.
enum class PopStatus : std::uint8_t {
  kOk,                 ///< `chain` holds a complete, checked chain
  kEmpty,              ///< no new available entries
  // Chain errors: the head was consumed; `chain.head` may be returned with add_used(head, 0).
  kNextOutOfRange,     ///< a `next` index (or the head) is >= the table size
  kChainTooLong,       ///< more descriptors than the queue size: a loop or an overlong chain
  kBadAddress,         ///< a buffer (or indirect table) is not wholly inside guest memory
  kBadIndirect,        ///< indirect descriptor not negotiated, nested, with NEXT, or bad length
  kHeadOutOfRange,     ///< the avail ring names a head >= queue size (consumed, not returnable)
  // Fatal: the queue is broken; nothing was consumed. The transport sets DEVICE_NEEDS_RESET.
  kAvailIdxJump,       ///< avail idx moved by more than the queue size
  kRingUnreadable,     ///< the rings themselves are no longer inside guest memory
  kNotReady,           ///< the queue is not ready/valid
};

/// Whether `s` leaves the queue usable (the caller may keep popping).
[[nodiscard]] constexpr bool is_chain_error(PopStatus s) noexcept {
  return s == PopStatus::kNextOutOfRange || s == PopStatus::kChainTooLong || s == PopStatus::kBadAddress ||
         s == PopStatus::kBadIndirect || s == PopStatus::kHeadOutOfRange;
}
/// Whether the caller may hand `chain.head` back with add_used(head, 0) after status `s`.
[[nodiscard]] constexpr bool head_returnable(PopStatus s) noexcept {
  return s == PopStatus::kNextOutOfRange || s == PopStatus::kChainTooLong || s == PopStatus::kBadAddress ||
         s == PopStatus::kBadIndirect;
}
[[nodiscard]] std::string_view to_string(PopStatus s) noexcept;

/// Device side of one split virtqueue. The transport writes the configuration fields while the
/// driver sets the queue up; once the device is active only the device's worker (here: the vCPU
/// thread that handles QueueNotify, under the transport's lock) calls pop/add_used. Not
/// thread-safe by itself.
///
/// Memory ordering (§2.7.13, Linux virtio_ring.c): the avail idx is loaded and then an acquire
/// fence orders the reads of ring entries and descriptors after it; add_used writes the used
/// element and then publishes used idx with a release store; the event-index checks use a full
/// fence between publishing and reading the driver's event index.
///
/// Dirty tracking hook (later snapshot work): the only guest pages the queue writes are
/// [used_ring, used_ring + used_ring_bytes()) and the device-writable buffers of popped chains.
class Queue {
 public:
  explicit Queue(std::uint16_t max_size) noexcept;

  // --- configuration (transport, before DRIVER_OK) ---
  [[nodiscard]] std::uint16_t max_size() const noexcept { return max_size_; }
  [[nodiscard]] std::uint16_t size() const noexcept { return size_; }
  void set_size(std::uint16_t size) noexcept { size_ = size; }
  [[nodiscard]] bool ready() const noexcept { return ready_; }
  void set_ready(bool ready) noexcept { ready_ = ready; }
  [[nodiscard]] std::uint64_t desc_table() const noexcept { return desc_table_; }
  [[nodiscard]] std::uint64_t avail_ring() const noexcept { return avail_ring_; }
  [[nodiscard]] std::uint64_t used_ring() const noexcept { return used_ring_; }
  void set_desc_table(std::uint64_t gpa) noexcept { desc_table_ = gpa; }
  void set_avail_ring(std::uint64_t gpa) noexcept { avail_ring_ = gpa; }
  void set_used_ring(std::uint64_t gpa) noexcept { used_ring_ = gpa; }
  /// Records the negotiated ring features (from the driver's acked feature bits).
  void set_features(std::uint64_t acked) noexcept;
  /// Back to the reset state: size = max, not ready, addresses and indices zero.
  void reset() noexcept;

  /// Why the configuration cannot be used, or empty when it can: size a nonzero power of two
  /// <= max, rings aligned (desc 16, avail 2, used 4) and wholly inside guest memory.
  [[nodiscard]] std::string_view check(const GuestMemory& mem) const noexcept;

  // --- hot path (device) ---
  /// Takes the next available chain, walking and checking every descriptor. Never loops more
  /// than queue-size times per chain; never touches memory outside `mem`.
  [[nodiscard]] PopStatus pop(const GuestMemory& mem, DescriptorChain& chain) noexcept;
  /// Puts the head back onto the used ring with `len` bytes written; publishes used idx.
  /// False when the used ring is not in guest memory or `head` is out of range.
  [[nodiscard]] bool add_used(const GuestMemory& mem, std::uint16_t head, std::uint32_t len) noexcept;
  /// Whether the driver wants an interrupt for the used entries added since the last one
  /// (VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event with EVENT_IDX). Call once after a batch.
  [[nodiscard]] bool needs_notification(const GuestMemory& mem) noexcept;
  /// With EVENT_IDX: tells the driver to notify on the next new entry (writes avail_event) and
  /// returns true if entries arrived meanwhile (the caller keeps popping). Without: returns
  /// whether entries are pending.
  [[nodiscard]] bool enable_notification(const GuestMemory& mem) noexcept;

  /// Bytes of the used ring including avail_event: the region add_used writes.
  [[nodiscard]] std::uint64_t used_ring_bytes() const noexcept { return 6 + 8ull * size_; }

  // --- snapshots ---
  [[nodiscard]] QueueState save() const noexcept;
  /// Rebuilds a queue from a snapshot. Throws common::Error when the state is inconsistent
  /// (size above max or not a power of two, ready with a bad configuration for `mem`).
  static Queue restore(const GuestMemory& mem, const QueueState& state);

 private:
  [[nodiscard]] PopStatus walk(const GuestMemory& mem, std::uint16_t head, DescriptorChain& chain) const noexcept;

  std::uint16_t max_size_;
  std::uint16_t size_;
  bool ready_ = false;
  std::uint64_t desc_table_ = 0;
  std::uint64_t avail_ring_ = 0;
  std::uint64_t used_ring_ = 0;
  std::uint16_t next_avail_ = 0;
  std::uint16_t next_used_ = 0;
  std::uint16_t signalled_used_ = 0;
  bool signalled_valid_ = false;  // false until the first notification decision after activation
  bool event_idx_ = false;
  bool indirect_ = false;
};

}  // namespace snapfaas::runner::virtio
