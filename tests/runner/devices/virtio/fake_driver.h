// FakeDriver: the driver side of a split virtqueue laid out in a real anonymous GuestMemory, for
// queue, transport and block tests. Writes descriptors and avail entries; reads used entries.
#pragma once

#include <cstdint>

#include "runner/devices/virtio/queue.h"
#include "runner/memory/guest_memory.h"

namespace snapfaas::runner::virtio::test {

inline constexpr std::uint16_t kDescFNext = 1;
inline constexpr std::uint16_t kDescFWrite = 2;
inline constexpr std::uint16_t kDescFIndirect = 4;

struct Desc {
  std::uint64_t addr;
  std::uint32_t len;
  std::uint16_t flags;
  std::uint16_t next;
};

struct UsedElem {
  std::uint32_t id;
  std::uint32_t len;
};

class FakeDriver {
 public:
  static constexpr std::uint64_t kMemSize = 1 << 20;
  static constexpr std::uint64_t kDesc = 0x1000;
  static constexpr std::uint64_t kAvail = 0x3000;
  static constexpr std::uint64_t kUsed = 0x4000;
  static constexpr std::uint64_t kData = 0x10000;  // free space for buffers

  explicit FakeDriver(std::uint16_t size) : size_(size) { mem.add_region(0, MmapRegion::anonymous(kMemSize)); }

  void set_desc(std::uint16_t i, std::uint64_t addr, std::uint32_t len, std::uint16_t flags = 0,
                std::uint16_t next = 0) {
    (void)mem.write_obj(kDesc + 16ull * i, Desc{addr, len, flags, next});
  }
  /// Puts `head` in the next avail slot and publishes the new idx.
  void publish(std::uint16_t head) {
    (void)mem.write_obj<std::uint16_t>(kAvail + 4 + 2ull * (avail_idx_ % size_), head);
    set_avail_idx(static_cast<std::uint16_t>(avail_idx_ + 1));
  }
  void set_avail_idx(std::uint16_t idx) {
    avail_idx_ = idx;
    (void)mem.write_obj<std::uint16_t>(kAvail + 2, idx);
  }
  void set_avail_flags(std::uint16_t flags) { (void)mem.write_obj<std::uint16_t>(kAvail, flags); }
  void set_used_event(std::uint16_t v) { (void)mem.write_obj<std::uint16_t>(kAvail + 4 + 2ull * size_, v); }
  [[nodiscard]] std::uint16_t avail_event() const { return *mem.read_obj<std::uint16_t>(kUsed + 4 + 8ull * size_); }
  [[nodiscard]] std::uint16_t used_idx() const { return *mem.read_obj<std::uint16_t>(kUsed + 2); }
  [[nodiscard]] UsedElem used(std::uint16_t i) const { return *mem.read_obj<UsedElem>(kUsed + 4 + 8ull * (i % size_)); }

  /// A queue configured on this layout and ready.
  [[nodiscard]] Queue make_queue(std::uint64_t features = 0) const {
    Queue q(size_);
    q.set_size(size_);
    q.set_desc_table(kDesc);
    q.set_avail_ring(kAvail);
    q.set_used_ring(kUsed);
    q.set_features(features);
    q.set_ready(true);
    return q;
  }

  [[nodiscard]] std::uint16_t size() const { return size_; }

  GuestMemory mem;

 private:
  std::uint16_t size_;
  std::uint16_t avail_idx_ = 0;
};

}  // namespace snapfaas::runner::virtio::test
