// SPSC ring: push/pop, wraparound, full/empty, element lifetimes, hostile indices, the observer.
#include "ipc/ring.h"

#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>

using namespace snapfaas::ipc;

namespace {

// A ring section in private memory (same layout as in a channel region).
template <typename T, std::uint32_t Cap>
struct LocalRing {
  RingIndices indices{};
  alignas(64) unsigned char storage[Cap * sizeof(T)]{};
  RingSection section() { return RingSection{&indices, storage, Cap}; }
};

struct Counted {
  static inline int constructed = 0;
  static inline int destroyed = 0;
  static int live() { return constructed - destroyed; }
  int value;
  explicit Counted(int v) noexcept : value(v) { ++constructed; }
  Counted(const Counted& o) noexcept : value(o.value) { ++constructed; }
  Counted(Counted&& o) noexcept : value(o.value) { ++constructed; }
  Counted& operator=(const Counted&) = delete;
  ~Counted() { ++destroyed; }
};

}  // namespace

TEST_CASE("push then pop returns elements in order; empty ring reports kRingEmpty") {
  LocalRing<std::uint64_t, 8> r;
  RingProducer<std::uint64_t> p(r.section());
  RingConsumer<std::uint64_t> c(r.section());
  CHECK_FALSE(c.readable());
  CHECK(c.try_pop().error() == IpcError::kRingEmpty);
  for (std::uint64_t i = 0; i < 5; ++i) REQUIRE(p.try_push(i * 10));
  CHECK(c.readable());
  CHECK(p.pending() == 5);
  for (std::uint64_t i = 0; i < 5; ++i) {
    Result<std::uint64_t> v = c.try_pop();
    REQUIRE(v);
    CHECK(*v == i * 10);
  }
  CHECK(c.try_pop().error() == IpcError::kRingEmpty);
  CHECK(p.pending() == 0);
}

TEST_CASE("full ring rejects a push until the consumer frees an entry") {
  LocalRing<std::uint32_t, 4> r;
  RingProducer<std::uint32_t> p(r.section());
  RingConsumer<std::uint32_t> c(r.section());
  for (std::uint32_t i = 0; i < 4; ++i) REQUIRE(p.try_push(i));
  CHECK(p.try_push(99).error() == IpcError::kRingFull);
  REQUIRE(*c.try_pop() == 0);
  CHECK(p.try_push(4));
  CHECK(p.try_push(5).error() == IpcError::kRingFull);
  for (std::uint32_t i = 1; i <= 4; ++i) CHECK(*c.try_pop() == i);
}

TEST_CASE("wraparound keeps order over many laps with varying fill levels") {
  LocalRing<std::uint64_t, 4> r;
  RingProducer<std::uint64_t> p(r.section());
  RingConsumer<std::uint64_t> c(r.section());
  std::uint64_t next_push = 0, next_pop = 0;
  for (int lap = 0; lap < 1000; ++lap) {
    const int n = 1 + lap % 4;
    for (int i = 0; i < n; ++i) REQUIRE(p.try_push(next_push++));
    for (int i = 0; i < n; ++i) {
      Result<std::uint64_t> v = c.try_pop();
      REQUIRE(v);
      REQUIRE(*v == next_pop++);
    }
  }
  CHECK(r.indices.tail == 2500);
  CHECK(r.indices.head == 2500);
}

TEST_CASE("elements are constructed once per push and destroyed once per pop") {
  Counted::constructed = Counted::destroyed = 0;
  {
    LocalRing<Counted, 4> r;
    RingProducer<Counted> p(r.section());
    RingConsumer<Counted> c(r.section());
    CHECK(Counted::live() == 0);  // the ring constructs nothing up front
    const Counted item(7);
    for (int i = 0; i < 4; ++i) REQUIRE(p.try_push(item));
    CHECK(Counted::live() == 1 + 4);
    CHECK(p.try_push(item).error() == IpcError::kRingFull);
    CHECK(Counted::live() == 1 + 4);  // a failed push constructs nothing
    for (int lap = 0; lap < 100; ++lap) {
      {
        Result<Counted> v = c.try_pop();
        REQUIRE(v);
        CHECK(v->value == 7);
        CHECK(Counted::live() == 1 + 3 + 1);  // the popped value is out of the ring
      }
      CHECK(Counted::live() == 1 + 3);
      REQUIRE(p.try_push(item));
    }
    for (int i = 0; i < 4; ++i) REQUIRE(c.try_pop());
    CHECK(Counted::live() == 1);
    CHECK(c.try_pop().error() == IpcError::kRingEmpty);
    CHECK(Counted::live() == 1);  // an empty pop constructs nothing
  }
  CHECK(Counted::live() == 0);
  CHECK(Counted::constructed > 100);
}

TEST_CASE("consumer rejects a tail that moves backwards or runs ahead") {
  LocalRing<std::uint64_t, 8> r;
  RingProducer<std::uint64_t> p(r.section());
  RingConsumer<std::uint64_t> c(r.section());
  for (int i = 0; i < 3; ++i) REQUIRE(p.try_push(1));
  REQUIRE(c.try_pop());  // consumer has seen tail 3
  SUBCASE("far ahead") {
    r.indices.tail = 3 + 8 + 1;  // head will be 3: one more than capacity ahead
    for (int i = 0; i < 2; ++i) REQUIRE(c.try_pop());  // already validated entries
    CHECK(c.try_pop().error() == IpcError::kIndexAhead);
    CHECK(c.readable());  // a waiter wakes up to see the error
  }
  SUBCASE("huge value") {
    for (int i = 0; i < 2; ++i) REQUIRE(c.try_pop());
    r.indices.tail = ~std::uint64_t{0} / 2;
    CHECK(c.try_pop().error() == IpcError::kIndexAhead);
  }
  SUBCASE("backwards below head") {
    for (int i = 0; i < 2; ++i) REQUIRE(c.try_pop());
    r.indices.tail = 1;
    CHECK(c.try_pop().error() == IpcError::kIndexBackwards);
  }
  SUBCASE("backwards below the last seen tail") {
    for (int i = 0; i < 2; ++i) REQUIRE(c.try_pop());
    REQUIRE(p.try_push(1));
    REQUIRE(p.try_push(1));  // tail 5
    REQUIRE(c.try_pop());    // head 4, saw tail 5
    r.indices.tail = 4;      // >= head but below what was seen
    REQUIRE(c.try_pop());    // entry 4 was validated before
    CHECK(c.try_pop().error() == IpcError::kIndexBackwards);
  }
}

TEST_CASE("producer rejects a corrupt head instead of overwriting unread entries") {
  LocalRing<std::uint64_t, 4> r;
  RingProducer<std::uint64_t> p(r.section());
  RingConsumer<std::uint64_t> c(r.section());
  for (int i = 0; i < 4; ++i) REQUIRE(p.try_push(1));
  SUBCASE("head beyond tail") {
    r.indices.head = 9;
    CHECK(p.try_push(1).error() == IpcError::kIndexAhead);
  }
  SUBCASE("head moved backwards") {
    REQUIRE(c.try_pop());
    REQUIRE(p.try_push(1));  // producer saw head 1
    r.indices.head = 0;
    CHECK(p.try_push(1).error() == IpcError::kIndexBackwards);
  }
}

TEST_CASE("check_tail and check_head handle counter wraparound at 2^64") {
  const std::uint64_t near_max = ~std::uint64_t{0} - 1;
  CHECK(check_tail(near_max, near_max, near_max + 3, 4));  // wraps to 1
  CHECK(check_tail(near_max, near_max, near_max + 5, 4).error() == IpcError::kIndexAhead);
  CHECK(check_head(near_max + 3, near_max, near_max + 1, 4));
  CHECK(check_head(near_max + 3, near_max, near_max + 4, 4).error() == IpcError::kIndexAhead);
}

TEST_CASE("readable() judges the tail against the consumer's private head, not the shared one") {
  LocalRing<std::uint64_t, 8> r;
  RingProducer<std::uint64_t> p(r.section());
  RingConsumer<std::uint64_t> c(r.section());
  REQUIRE(p.try_push(1));
  // A hostile peer writes the consumer's head in shared memory to match the tail: the entry is
  // still there for this consumer.
  std::atomic_ref(r.indices.head).store(1, std::memory_order_relaxed);
  CHECK(c.readable());
  CHECK(*c.try_pop() == 1);
  // And the other way: a head moved away from the tail does not make an empty ring readable.
  std::atomic_ref(r.indices.head).store(100, std::memory_order_relaxed);
  CHECK_FALSE(c.readable());
}

TEST_CASE("ring_section_at: indices at the start, entries after kRingEntriesOffset") {
  alignas(64) std::uint8_t bytes[kRingEntriesOffset + 4 * sizeof(std::uint64_t)]{};
  const RingSection s = ring_section_at(bytes, 4);
  CHECK(reinterpret_cast<std::uint8_t*>(s.indices) == bytes);
  CHECK(static_cast<std::uint8_t*>(s.entries) == bytes + kRingEntriesOffset);
  CHECK(s.capacity == 4);
}

TEST_CASE("RingObserver counts pending entries and rejects impossible index pairs") {
  LocalRing<std::uint64_t, 8> r;
  RingProducer<std::uint64_t> p(r.section());
  RingConsumer<std::uint64_t> c(r.section());
  RingObserver o(r.section());
  CHECK(o.capacity() == 8);
  CHECK(*o.pending() == 0);
  for (std::uint64_t i = 0; i < 8; ++i) REQUIRE(p.try_push(i));
  CHECK(*o.pending() == 8);  // full is legal
  REQUIRE(c.try_pop());
  CHECK(*o.pending() == 7);
  for (int lap = 0; lap < 100; ++lap) {  // wraps the entries many times; the counts stay exact
    REQUIRE(p.try_push(1));
    REQUIRE(c.try_pop());
    CHECK(*o.pending() == 7);
  }

  SUBCASE("tail more than capacity ahead of head") {
    std::atomic_ref(r.indices.tail).store(r.indices.head + 9, std::memory_order_relaxed);
    CHECK(o.pending().error() == IpcError::kIndexAhead);
    CHECK(o.last_tail() - o.last_head() == 9);
  }
  SUBCASE("head beyond tail (both are untrusted here)") {
    std::atomic_ref(r.indices.head).store(r.indices.tail + 5, std::memory_order_relaxed);
    CHECK(o.pending().error() == IpcError::kIndexBackwards);
    CHECK(o.last_head() - o.last_tail() == 5);
  }
  SUBCASE("counter wraparound at 2^64 is not an error") {
    std::atomic_ref(r.indices.head).store(~std::uint64_t{0} - 1, std::memory_order_relaxed);
    std::atomic_ref(r.indices.tail).store(2, std::memory_order_relaxed);
    CHECK(*o.pending() == 4);
  }
  SUBCASE("the observer stores nothing") {
    const RingIndices before = r.indices;
    (void)o.pending();
    CHECK(r.indices.head == before.head);
    CHECK(r.indices.tail == before.tail);
  }
}
