// Queue: split-virtqueue walking and used-ring publishing with bounds and loop checks.
#include "runner/devices/virtio/queue.h"

#include <atomic>
#include <cstring>
#include <optional>
#include <string>

#include "common/error.h"

namespace snapfaas::runner::virtio {
namespace {

// Guest layout of one descriptor (§2.7.5), little-endian like the host.
struct Descriptor {
  std::uint64_t addr;
  std::uint32_t len;
  std::uint16_t flags;
  std::uint16_t next;
};
static_assert(sizeof(Descriptor) == 16);

// Guest layout of one used element (§2.7.8).
struct UsedElem {
  std::uint32_t id;
  std::uint32_t len;
};
static_assert(sizeof(UsedElem) == 8);

constexpr std::uint16_t kDescFNext = 1;
constexpr std::uint16_t kDescFWrite = 2;
constexpr std::uint16_t kDescFIndirect = 4;
constexpr std::uint16_t kAvailFNoInterrupt = 1;

// The idx/flags/event fields are shared with a driver running concurrently on other CPUs, so
// they are accessed as atomics (atomic_ref) when the host pointer is suitably aligned, which the
// ring alignment checks and page-aligned mappings guarantee; memcpy is the fallback.
std::optional<std::uint16_t> load_u16(const GuestMemory& mem, std::uint64_t gpa) noexcept {
  const auto s = mem.slice(gpa, sizeof(std::uint16_t));
  if (!s) return std::nullopt;
  if (reinterpret_cast<std::uintptr_t>(s->data()) % alignof(std::uint16_t) != 0) {
    std::uint16_t v;
    std::memcpy(&v, s->data(), sizeof v);
    return v;
  }
  // SAFETY: the slice is 2 bytes inside a live guest mapping and 2-byte aligned (checked above).
  auto* p = reinterpret_cast<std::uint16_t*>(s->data());
  return std::atomic_ref<std::uint16_t>(*p).load(std::memory_order_relaxed);
}

bool store_u16(const GuestMemory& mem, std::uint64_t gpa, std::uint16_t v, std::memory_order order) noexcept {
  const auto s = mem.slice(gpa, sizeof(std::uint16_t));
  if (!s) return false;
  mem.mark_written(gpa, sizeof v);  // snapshot diffs: the VMM's own writes
  if (reinterpret_cast<std::uintptr_t>(s->data()) % alignof(std::uint16_t) != 0) {
    std::atomic_thread_fence(order == std::memory_order_relaxed ? std::memory_order_relaxed
                                                                : std::memory_order_release);
    std::memcpy(s->data(), &v, sizeof v);
    return true;
  }
  // SAFETY: as in load_u16.
  auto* p = reinterpret_cast<std::uint16_t*>(s->data());
  std::atomic_ref<std::uint16_t>(*p).store(v, order);
  return true;
}

bool is_power_of_two(std::uint32_t v) noexcept { return v != 0 && (v & (v - 1)) == 0; }

}  // namespace

std::string_view to_string(PopStatus s) noexcept {
  switch (s) {
    case PopStatus::kOk: return "ok";
    case PopStatus::kEmpty: return "empty";
    case PopStatus::kNextOutOfRange: return "descriptor next index out of range";
    case PopStatus::kChainTooLong: return "descriptor chain longer than the queue (loop?)";
    case PopStatus::kBadAddress: return "buffer outside guest memory";
    case PopStatus::kBadIndirect: return "bad indirect descriptor";
    case PopStatus::kHeadOutOfRange: return "avail ring head index out of range";
    case PopStatus::kAvailIdxJump: return "avail idx moved by more than the queue size";
    case PopStatus::kRingUnreadable: return "ring outside guest memory";
    case PopStatus::kNotReady: return "queue not ready";
  }
  return "unknown";
}

Queue::Queue(std::uint16_t max_size) noexcept : max_size_(max_size), size_(max_size) {}

void Queue::set_features(std::uint64_t acked) noexcept {
  event_idx_ = (acked >> kFeatureRingEventIdx) & 1;
  indirect_ = (acked >> kFeatureRingIndirectDesc) & 1;
}

void Queue::reset() noexcept {
  const std::uint16_t max = max_size_;
  *this = Queue(max);
}

std::string_view Queue::check(const GuestMemory& mem) const noexcept {
  if (size_ == 0 || size_ > max_size_ || !is_power_of_two(size_)) return "queue size not a power of two <= max";
  if (desc_table_ % 16 != 0) return "descriptor table not 16-byte aligned";
  if (avail_ring_ % 2 != 0) return "driver area not 2-byte aligned";
  if (used_ring_ % 4 != 0) return "device area not 4-byte aligned";
  if (!mem.slice(desc_table_, 16ull * size_)) return "descriptor table outside guest memory";
  if (!mem.slice(avail_ring_, 6 + 2ull * size_)) return "driver area outside guest memory";
  if (!mem.slice(used_ring_, used_ring_bytes())) return "device area outside guest memory";
  return {};
}

PopStatus Queue::pop(const GuestMemory& mem, DescriptorChain& chain) noexcept {
  chain.buffers.clear();
  if (!ready_ || size_ == 0) return PopStatus::kNotReady;
  const auto avail_idx = load_u16(mem, avail_ring_ + 2);
  if (!avail_idx) return PopStatus::kRingUnreadable;
  const auto pending = static_cast<std::uint16_t>(*avail_idx - next_avail_);
  if (pending == 0) return PopStatus::kEmpty;
  if (pending > size_) return PopStatus::kAvailIdxJump;
  // Pairs with the driver's write barrier before its avail idx store: ring entries and
  // descriptors are read after idx (§2.7.13.3, virtio_wmb in the driver).
  std::atomic_thread_fence(std::memory_order_acquire);
  const auto head = mem.read_obj<std::uint16_t>(avail_ring_ + 4 + 2ull * (next_avail_ % size_));
  if (!head) return PopStatus::kRingUnreadable;
  ++next_avail_;
  chain.head = *head;
  if (*head >= size_) return PopStatus::kHeadOutOfRange;
  return walk(mem, *head, chain);
}

PopStatus Queue::walk(const GuestMemory& mem, std::uint16_t head, DescriptorChain& chain) const noexcept {
  std::uint64_t table = desc_table_;
  std::uint32_t table_size = size_;
  bool in_indirect = false;
  std::uint32_t visited = 0;  // descriptors visited in the current table: bounds loops
  std::uint32_t index = head;
  for (;;) {
    if (index >= table_size) return PopStatus::kNextOutOfRange;
    if (++visited > table_size || chain.buffers.size() >= size_) return PopStatus::kChainTooLong;
    const auto desc = mem.read_obj<Descriptor>(table + 16ull * index);
    if (!desc) return PopStatus::kBadAddress;
    if (desc->flags & kDescFIndirect) {
      // §2.7.5.3: only when negotiated, never nested, never combined with NEXT; the table is a
      // whole number of descriptors and (as Linux builds it) no longer than the queue.
      if (!indirect_ || in_indirect || (desc->flags & kDescFNext)) return PopStatus::kBadIndirect;
      if (desc->len == 0 || desc->len % 16 != 0 || desc->len / 16 > size_) return PopStatus::kBadIndirect;
      if (!mem.slice(desc->addr, desc->len)) return PopStatus::kBadAddress;
      table = desc->addr;
      table_size = desc->len / 16;
      in_indirect = true;
      visited = 0;
      index = 0;
      continue;
    }
    if (!mem.slice(desc->addr, desc->len)) return PopStatus::kBadAddress;
    chain.buffers.push_back(Buffer{desc->addr, desc->len, (desc->flags & kDescFWrite) != 0});
    if (!(desc->flags & kDescFNext)) return PopStatus::kOk;
    index = desc->next;
  }
}

bool Queue::add_used(const GuestMemory& mem, std::uint16_t head, std::uint32_t len) noexcept {
  if (!ready_ || size_ == 0 || head >= size_) return false;
  const std::uint64_t elem = used_ring_ + 4 + 8ull * (next_used_ % size_);
  if (!mem.write_obj(elem, UsedElem{head, len})) return false;
  const auto next = static_cast<std::uint16_t>(next_used_ + 1);
  // Release: the element (and the buffer contents written before) become visible to the driver
  // before the new used idx it polls (§2.7.8.2; pairs with the driver's read barrier after idx).
  if (!store_u16(mem, used_ring_ + 2, next, std::memory_order_release)) return false;
  next_used_ = next;
  return true;
}

bool Queue::needs_notification(const GuestMemory& mem) noexcept {
  // Full fence: the used idx store must be visible before we read the driver's suppression
  // fields, or we may miss a notification the driver asked for (§2.7.10, virtio_mb).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (!event_idx_) {
    const auto flags = load_u16(mem, avail_ring_);
    return !flags || (*flags & kAvailFNoInterrupt) == 0;
  }
  const auto used_event = load_u16(mem, avail_ring_ + 4 + 2ull * size_);
  const std::uint16_t old = signalled_used_;
  const std::uint16_t now = next_used_;
  const bool valid = signalled_valid_;
  signalled_used_ = now;
  signalled_valid_ = true;
  if (!valid || !used_event) return true;
  // vring_need_event(): notify when used_event lies in (old, now].
  return static_cast<std::uint16_t>(now - *used_event - 1) < static_cast<std::uint16_t>(now - old);
}

bool Queue::enable_notification(const GuestMemory& mem) noexcept {
  if (!ready_ || size_ == 0) return false;
  if (event_idx_) {
    (void)store_u16(mem, used_ring_ + 4 + 8ull * size_, next_avail_, std::memory_order_relaxed);
    // Full fence: avail_event must be visible before we re-read avail idx (§2.7.10).
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
  const auto avail_idx = load_u16(mem, avail_ring_ + 2);
  return avail_idx && *avail_idx != next_avail_;
}

QueueState Queue::save() const noexcept {
  return QueueState{max_size_,  size_,      ready_,      desc_table_,     avail_ring_, used_ring_,
                    next_avail_, next_used_, signalled_used_, event_idx_, indirect_};
}

Queue Queue::restore(const GuestMemory& mem, const QueueState& state) {
  if (state.max_size == 0 || state.max_size > kMaxQueueSize || !is_power_of_two(state.max_size)) {
    throw common::Error("restore virtio queue: bad max size " + std::to_string(state.max_size));
  }
  Queue q(state.max_size);
  q.size_ = state.size;
  q.ready_ = state.ready;
  q.desc_table_ = state.desc_table;
  q.avail_ring_ = state.avail_ring;
  q.used_ring_ = state.used_ring;
  q.next_avail_ = state.next_avail;
  q.next_used_ = state.next_used;
  q.signalled_used_ = state.signalled_used;
  q.signalled_valid_ = false;  // be conservative after a restore: the next batch notifies
  q.event_idx_ = state.event_idx;
  q.indirect_ = state.indirect;
  if (state.size > state.max_size) {
    throw common::Error("restore virtio queue: size " + std::to_string(state.size) + " above max " +
                        std::to_string(state.max_size));
  }
  if (state.ready) {
    const std::string_view why = q.check(mem);
    if (!why.empty()) throw common::Error("restore virtio queue: " + std::string(why));
  }
  return q;
}

}  // namespace snapfaas::runner::virtio
