// ChannelView: header validation against the mapped size; bounds-checked slots and lengths.
#include "ipc/channel_view.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>

using namespace snapfaas::ipc;

namespace {

constexpr std::uint32_t kSlot = 4096;
constexpr std::uint32_t kSlots = 8;

// Page-aligned, zeroed private memory standing in for a mapping (ASan sees any overrun).
struct Buffer {
  explicit Buffer(std::size_t n) : size(n), data(static_cast<std::uint8_t*>(std::aligned_alloc(4096, n))) {
    std::memset(data, 0, n);
  }
  ~Buffer() { std::free(data); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  std::size_t size;
  std::uint8_t* data;
  ChannelHeader& header() { return *reinterpret_cast<ChannelHeader*>(data); }
};

std::size_t region_size() { return compute_channel_layout(kSlot, kSlots).total_size; }

}  // namespace

TEST_CASE("format writes a header that attach accepts with the same layout") {
  Buffer b(region_size());
  Result<ChannelView> formatted = ChannelView::format(b.data, b.size, kSlot, kSlots);
  REQUIRE(formatted);
  Result<ChannelView> attached = ChannelView::attach(b.data, b.size);
  REQUIRE(attached);
  CHECK(attached->layout().slots_offset == formatted->layout().slots_offset);
  CHECK(attached->layout().ring_capacity == 8);
  CHECK(b.header().magic == kChannelMagic);
  CHECK(attached->request_ring().capacity == 8);
  CHECK(attached->control_ring().capacity == kControlCapacity);
  CHECK(reinterpret_cast<std::uint8_t*>(attached->request_ring().indices) == b.data + attached->layout().request_offset);
  for (std::uint64_t off : {attached->layout().control_offset, attached->layout().control_reply_offset,
                            attached->layout().request_offset, attached->layout().response_offset,
                            attached->layout().slots_offset}) {
    CHECK(off % kPageSize == 0);
  }
}

TEST_CASE("format rejects invalid parameters and short regions") {
  Buffer b(region_size());
  CHECK(ChannelView::format(b.data, b.size, 1000, kSlots).error() == IpcError::kBadHeader);
  CHECK(ChannelView::format(b.data, b.size, kSlot, 0).error() == IpcError::kBadHeader);
  CHECK(ChannelView::format(b.data, b.size, kSlot, kMaxSlotCount + 1).error() == IpcError::kBadHeader);
  CHECK(ChannelView::format(b.data, b.size - 1, kSlot, kSlots).error() == IpcError::kRegionTooSmall);
}

TEST_CASE("corrupted headers are clear errors") {
  Buffer b(region_size());
  REQUIRE(ChannelView::format(b.data, b.size, kSlot, kSlots));
  SUBCASE("magic") {
    b.header().magic ^= 1;
    CHECK(ChannelView::attach(b.data, b.size).error() == IpcError::kBadMagic);
  }
  SUBCASE("version") {
    b.header().version = kChannelVersion + 1;
    CHECK(ChannelView::attach(b.data, b.size).error() == IpcError::kBadVersion);
  }
  SUBCASE("header size") {
    b.header().header_size = 64;
    CHECK(ChannelView::attach(b.data, b.size).error() == IpcError::kBadHeader);
  }
  SUBCASE("slot count zero / too large, slot size not page multiple") {
    b.header().slot_count = 0;
    CHECK(ChannelView::attach(b.data, b.size).error() == IpcError::kBadHeader);
    b.header().slot_count = 0xFFFFFFFF;
    CHECK(ChannelView::attach(b.data, b.size).error() == IpcError::kBadHeader);
    b.header().slot_count = kSlots;
    b.header().slot_size = kSlot + 1;
    CHECK(ChannelView::attach(b.data, b.size).error() == IpcError::kBadHeader);
  }
  SUBCASE("an offset pointing elsewhere") {
    b.header().slots_offset = 0;
    CHECK(ChannelView::attach(b.data, b.size).error() == IpcError::kLayoutMismatch);
  }
  SUBCASE("capacity not matching") {
    b.header().ring_capacity = 1U << 30;
    CHECK(ChannelView::attach(b.data, b.size).error() == IpcError::kLayoutMismatch);
  }
  SUBCASE("header claims more slots than are mapped") {
    const ChannelLayout bigger = compute_channel_layout(kSlot, 64);
    ChannelHeader& h = b.header();
    h.slot_count = 64;
    h.ring_capacity = bigger.ring_capacity;
    h.request_offset = bigger.request_offset;
    h.response_offset = bigger.response_offset;
    h.slots_offset = bigger.slots_offset;
    h.total_size = bigger.total_size;
    CHECK(ChannelView::attach(b.data, b.size).error() == IpcError::kRegionTooSmall);
  }
  SUBCASE("mapping smaller than a page") { CHECK(ChannelView::attach(b.data, 100).error() == IpcError::kRegionTooSmall); }
}

TEST_CASE("slot and payload accessors reject out-of-range indices and lengths") {
  Buffer b(region_size());
  Result<ChannelView> v = ChannelView::format(b.data, b.size, kSlot, kSlots);
  REQUIRE(v);
  Result<std::span<std::uint8_t>> last = v->slot(kSlots - 1);
  REQUIRE(last);
  CHECK(last->size() == kSlot);
  CHECK(last->data() + last->size() == b.data + b.size);
  last->back() = 0xAB;  // in bounds (ASan would flag otherwise)
  CHECK(v->slot(kSlots).error() == IpcError::kSlotOutOfRange);
  CHECK(v->slot(0xFFFFFFFF).error() == IpcError::kSlotOutOfRange);
  CHECK(v->payload(0, kSlot));
  CHECK(v->payload(0, kSlot + 1).error() == IpcError::kLengthOutOfRange);
  CHECK(v->payload(kSlots, 1).error() == IpcError::kSlotOutOfRange);
}

TEST_CASE("random header bytes never yield a view that reaches outside the mapping") {
  Buffer b(region_size());
  std::mt19937_64 rng(42);
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    REQUIRE(ChannelView::format(b.data, b.size, kSlot, kSlots));
    // Flip a few random bytes of the header, sometimes to plausible small values.
    for (int k = 0; k < 1 + static_cast<int>(rng() % 3); ++k) {
      b.data[rng() % sizeof(ChannelHeader)] = static_cast<std::uint8_t>(rng() % 4 == 0 ? rng() % 16 : rng());
    }
    Result<ChannelView> v = ChannelView::attach(b.data, b.size);
    if (!v) continue;
    ++accepted;
    REQUIRE(v->layout().total_size <= b.size);
    for (std::uint32_t s = 0; s < v->layout().slot_count; ++s) {
      Result<std::span<std::uint8_t>> bytes = v->slot(s);
      REQUIRE(bytes);
      REQUIRE(bytes->data() + bytes->size() <= b.data + b.size);
    }
  }
  CHECK(accepted > 0);  // some flips only touch reserved bytes
}
