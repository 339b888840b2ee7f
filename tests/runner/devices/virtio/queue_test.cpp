// Queue walks well-formed chains and answers every malformed one with an error, never a crash or
// an endless loop; used-ring publishing, notification suppression and save/restore.
#include "runner/devices/virtio/queue.h"

#include <doctest/doctest.h>

#include <limits>
#include <atomic>
#include <random>
#include <thread>

#include "common/error.h"
#include "tests/runner/devices/virtio/fake_driver.h"

using namespace snapfaas::runner;
using namespace snapfaas::runner::virtio;
using snapfaas::runner::virtio::test::FakeDriver;
using snapfaas::runner::virtio::test::kDescFIndirect;
using snapfaas::runner::virtio::test::kDescFNext;
using snapfaas::runner::virtio::test::kDescFWrite;

namespace {
constexpr std::uint64_t kIndirectFeature = 1ull << kFeatureRingIndirectDesc;
constexpr std::uint64_t kEventIdxFeature = 1ull << kFeatureRingEventIdx;
}  // namespace

TEST_CASE("Queue pops a three-descriptor chain and publishes the used element") {
  FakeDriver d(8);
  d.set_desc(3, FakeDriver::kData, 16, kDescFNext, 5);
  d.set_desc(5, FakeDriver::kData + 0x100, 512, kDescFNext | kDescFWrite, 1);
  d.set_desc(1, FakeDriver::kData + 0x400, 1, kDescFWrite);
  d.publish(3);
  Queue q = d.make_queue();
  REQUIRE(q.check(d.mem).empty());

  DescriptorChain chain;
  REQUIRE(q.pop(d.mem, chain) == PopStatus::kOk);
  CHECK(chain.head == 3);
  REQUIRE(chain.buffers.size() == 3);
  CHECK(chain.buffers[0].gpa == FakeDriver::kData);
  CHECK_FALSE(chain.buffers[0].device_writable);
  CHECK(chain.buffers[1].len == 512);
  CHECK(chain.buffers[1].device_writable);
  CHECK(chain.buffers[2].gpa == FakeDriver::kData + 0x400);
  CHECK(q.pop(d.mem, chain) == PopStatus::kEmpty);

  REQUIRE(q.add_used(d.mem, 3, 513));
  CHECK(d.used_idx() == 1);
  CHECK(d.used(0).id == 3);
  CHECK(d.used(0).len == 513);
  CHECK_FALSE(q.add_used(d.mem, 8, 0));  // head out of range
  CHECK(d.used_idx() == 1);
}

TEST_CASE("Queue wraps its indices around the ring") {
  FakeDriver d(4);
  Queue q = d.make_queue();
  DescriptorChain chain;
  for (std::uint16_t i = 0; i < 11; ++i) {
    d.set_desc(i % 4, FakeDriver::kData + i, 1, kDescFWrite);
    d.publish(i % 4);
    REQUIRE(q.pop(d.mem, chain) == PopStatus::kOk);
    CHECK(chain.head == i % 4);
    REQUIRE(q.add_used(d.mem, chain.head, i));
  }
  CHECK(d.used_idx() == 11);
  CHECK(d.used(10).len == 10);
}

TEST_CASE("Queue rejects malicious descriptor chains") {
  FakeDriver d(8);
  Queue q = d.make_queue();
  DescriptorChain chain;
  // After a chain error the queue keeps working: the next good chain pops fine.
  auto recovers = [&] {
    d.set_desc(7, FakeDriver::kData, 4, kDescFWrite);
    d.publish(7);
    REQUIRE(q.pop(d.mem, chain) == PopStatus::kOk);
    CHECK(chain.head == 7);
  };

  SUBCASE("self loop") {
    d.set_desc(0, FakeDriver::kData, 1, kDescFNext, 0);
    d.publish(0);
    CHECK(q.pop(d.mem, chain) == PopStatus::kChainTooLong);
    CHECK(chain.head == 0);
    CHECK(head_returnable(PopStatus::kChainTooLong));
    recovers();
  }
  SUBCASE("two-descriptor cycle") {
    d.set_desc(2, FakeDriver::kData, 1, kDescFNext, 6);
    d.set_desc(6, FakeDriver::kData, 1, kDescFNext, 2);
    d.publish(2);
    CHECK(q.pop(d.mem, chain) == PopStatus::kChainTooLong);
    recovers();
  }
  SUBCASE("next index out of range") {
    d.set_desc(0, FakeDriver::kData, 1, kDescFNext, 8);
    d.publish(0);
    CHECK(q.pop(d.mem, chain) == PopStatus::kNextOutOfRange);
    recovers();
  }
  SUBCASE("head index out of range") {
    d.publish(0xffff);
    CHECK(q.pop(d.mem, chain) == PopStatus::kHeadOutOfRange);
    CHECK_FALSE(head_returnable(PopStatus::kHeadOutOfRange));
    recovers();
  }
  SUBCASE("buffer past the end of guest memory") {
    d.set_desc(0, FakeDriver::kMemSize - 8, 16);
    d.publish(0);
    CHECK(q.pop(d.mem, chain) == PopStatus::kBadAddress);
    recovers();
  }
  SUBCASE("buffer address wraps around 2^64") {
    d.set_desc(0, std::numeric_limits<std::uint64_t>::max() - 4, 0xffffffff);
    d.publish(0);
    CHECK(q.pop(d.mem, chain) == PopStatus::kBadAddress);
  }
  SUBCASE("indirect descriptor without the feature") {
    d.set_desc(0, FakeDriver::kData, 32, kDescFIndirect);
    d.publish(0);
    CHECK(q.pop(d.mem, chain) == PopStatus::kBadIndirect);
  }
  SUBCASE("avail idx jumps by more than the queue size") {
    d.set_avail_idx(9);
    CHECK(q.pop(d.mem, chain) == PopStatus::kAvailIdxJump);
    CHECK_FALSE(is_chain_error(PopStatus::kAvailIdxJump));
    CHECK(q.pop(d.mem, chain) == PopStatus::kAvailIdxJump);  // nothing consumed, still refused
  }
}

TEST_CASE("Queue rejects a chain that is longer than the queue without a loop") {
  FakeDriver d(4);
  Queue q = d.make_queue(kIndirectFeature);
  // An indirect table of 4 entries chained 0→1→2→3 is fine; 5 entries exceed the queue size.
  const std::uint64_t table = FakeDriver::kData + 0x1000;
  for (std::uint16_t i = 0; i < 5; ++i) {
    const bool last = i == 4;
    (void)d.mem.write_obj(table + 16ull * i,
                          test::Desc{FakeDriver::kData, 8, static_cast<std::uint16_t>(last ? 0 : kDescFNext),
                                     static_cast<std::uint16_t>(i + 1)});
  }
  DescriptorChain chain;
  SUBCASE("indirect table larger than the queue") {
    d.set_desc(0, table, 5 * 16, kDescFIndirect);
    d.publish(0);
    CHECK(q.pop(d.mem, chain) == PopStatus::kBadIndirect);
  }
  SUBCASE("direct descriptors plus an indirect table exceed the queue size") {
    d.set_desc(0, FakeDriver::kData, 8, kDescFNext, 1);
    d.set_desc(1, FakeDriver::kData, 8, kDescFNext, 2);
    const std::uint64_t table4 = table + 0x200;  // a valid 4-entry chain 0→1→2→3
    for (std::uint16_t i = 0; i < 4; ++i) {
      REQUIRE(d.mem.write_obj(table4 + 16ull * i, test::Desc{FakeDriver::kData, 8,
                                                             static_cast<std::uint16_t>(i < 3 ? kDescFNext : 0),
                                                             static_cast<std::uint16_t>(i + 1)}));
    }
    d.set_desc(2, table4, 4 * 16, kDescFIndirect);
    d.publish(0);
    CHECK(q.pop(d.mem, chain) == PopStatus::kChainTooLong);
  }
}

TEST_CASE("Queue walks indirect tables with the same checks") {
  FakeDriver d(8);
  Queue q = d.make_queue(kIndirectFeature);
  DescriptorChain chain;
  const std::uint64_t table = FakeDriver::kData + 0x1000;
  auto put = [&](std::uint16_t i, std::uint64_t addr, std::uint32_t len, std::uint16_t flags, std::uint16_t next) {
    REQUIRE(d.mem.write_obj(table + 16ull * i, test::Desc{addr, len, flags, next}));
  };

  SUBCASE("good table") {
    put(0, FakeDriver::kData, 16, kDescFNext, 2);
    put(2, FakeDriver::kData + 0x200, 4096, kDescFNext | kDescFWrite, 1);
    put(1, FakeDriver::kData + 0x100, 1, kDescFWrite, 0);
    d.set_desc(4, table, 3 * 16, kDescFIndirect);
    d.publish(4);
    REQUIRE(q.pop(d.mem, chain) == PopStatus::kOk);
    CHECK(chain.head == 4);
    REQUIRE(chain.buffers.size() == 3);
    CHECK(chain.buffers[1].len == 4096);
    CHECK(chain.buffers[2].device_writable);
  }
  SUBCASE("loop inside the table") {
    put(0, FakeDriver::kData, 16, kDescFNext, 1);
    put(1, FakeDriver::kData, 16, kDescFNext, 0);
    d.set_desc(0, table, 2 * 16, kDescFIndirect);
    d.publish(0);
    CHECK(q.pop(d.mem, chain) == PopStatus::kChainTooLong);
  }
  SUBCASE("next past the table") {
    put(0, FakeDriver::kData, 16, kDescFNext, 2);
    d.set_desc(0, table, 2 * 16, kDescFIndirect);
    d.publish(0);
    CHECK(q.pop(d.mem, chain) == PopStatus::kNextOutOfRange);
  }
  SUBCASE("nested indirect") {
    put(0, table, 16, kDescFIndirect, 0);
    d.set_desc(0, table, 16, kDescFIndirect);
    d.publish(0);
    CHECK(q.pop(d.mem, chain) == PopStatus::kBadIndirect);
  }
  SUBCASE("indirect with NEXT") {
    put(0, FakeDriver::kData, 16, 0, 0);
    d.set_desc(0, table, 16, kDescFIndirect | kDescFNext, 1);
    d.publish(0);
    CHECK(q.pop(d.mem, chain) == PopStatus::kBadIndirect);
  }
  SUBCASE("table length not a multiple of 16") {
    d.set_desc(0, table, 24, kDescFIndirect);
    d.publish(0);
    CHECK(q.pop(d.mem, chain) == PopStatus::kBadIndirect);
  }
  SUBCASE("table outside guest memory") {
    d.set_desc(0, FakeDriver::kMemSize - 16, 32, kDescFIndirect);
    d.publish(0);
    CHECK(q.pop(d.mem, chain) == PopStatus::kBadAddress);
  }
}

TEST_CASE("Queue configuration checks") {
  FakeDriver d(8);
  Queue q = d.make_queue();
  CHECK(q.check(d.mem).empty());
  q.set_size(6);
  CHECK_FALSE(q.check(d.mem).empty());  // not a power of two
  q.set_size(16);
  CHECK_FALSE(q.check(d.mem).empty());  // above max
  q.set_size(8);
  q.set_desc_table(FakeDriver::kDesc + 8);
  CHECK_FALSE(q.check(d.mem).empty());  // misaligned
  q.set_desc_table(FakeDriver::kMemSize - 16);
  CHECK_FALSE(q.check(d.mem).empty());  // table runs out of memory
  q.set_desc_table(FakeDriver::kDesc);
  q.set_used_ring(FakeDriver::kUsed + 2);
  CHECK_FALSE(q.check(d.mem).empty());
  q.reset();
  CHECK(q.size() == 8);
  CHECK_FALSE(q.ready());
  DescriptorChain chain;
  CHECK(q.pop(d.mem, chain) == PopStatus::kNotReady);
}

TEST_CASE("Queue notification suppression: NO_INTERRUPT flag and EVENT_IDX") {
  FakeDriver d(8);
  DescriptorChain chain;
  SUBCASE("flags") {
    Queue q = d.make_queue();
    d.set_desc(0, FakeDriver::kData, 1, kDescFWrite);
    d.publish(0);
    REQUIRE(q.pop(d.mem, chain) == PopStatus::kOk);
    REQUIRE(q.add_used(d.mem, 0, 1));
    CHECK(q.needs_notification(d.mem));
    d.set_avail_flags(1);
    CHECK_FALSE(q.needs_notification(d.mem));
  }
  SUBCASE("event idx") {
    Queue q = d.make_queue(kEventIdxFeature);
    d.set_used_event(1);  // driver wants an interrupt once used idx passes 1
    for (std::uint16_t i = 0; i < 3; ++i) {
      d.set_desc(i, FakeDriver::kData, 1, kDescFWrite);
      d.publish(i);
    }
    REQUIRE(q.pop(d.mem, chain) == PopStatus::kOk);
    REQUIRE(q.add_used(d.mem, chain.head, 1));
    CHECK(q.needs_notification(d.mem));  // first decision always notifies
    REQUIRE(q.pop(d.mem, chain) == PopStatus::kOk);
    REQUIRE(q.add_used(d.mem, chain.head, 1));  // used idx 2: crosses used_event 1
    CHECK(q.needs_notification(d.mem));
    REQUIRE(q.pop(d.mem, chain) == PopStatus::kOk);
    REQUIRE(q.add_used(d.mem, chain.head, 1));  // used idx 3: used_event still 1
    CHECK_FALSE(q.needs_notification(d.mem));
    CHECK_FALSE(q.enable_notification(d.mem));
    CHECK(d.avail_event() == 3);
    d.set_desc(3, FakeDriver::kData, 1, kDescFWrite);
    d.publish(3);
    CHECK(q.enable_notification(d.mem));  // a new entry is pending
  }
}

TEST_CASE("QueueState save -> restore round trip") {
  FakeDriver d(8);
  Queue q = d.make_queue(kEventIdxFeature | kIndirectFeature);
  d.set_desc(0, FakeDriver::kData, 1, kDescFWrite);
  d.publish(0);
  DescriptorChain chain;
  REQUIRE(q.pop(d.mem, chain) == PopStatus::kOk);
  REQUIRE(q.add_used(d.mem, 0, 1));
  const QueueState s = q.save();
  CHECK(s.next_avail == 1);
  CHECK(s.next_used == 1);
  CHECK(s.event_idx);
  CHECK(s.indirect);
  Queue r = Queue::restore(d.mem, s);
  CHECK(r.save() == s);
  d.set_desc(1, FakeDriver::kData, 1, kDescFWrite);
  d.publish(1);
  REQUIRE(r.pop(d.mem, chain) == PopStatus::kOk);  // continues where the original stopped
  CHECK(chain.head == 1);

  QueueState bad = s;
  bad.size = 16;
  CHECK_THROWS_AS((void)Queue::restore(d.mem, bad), snapfaas::common::Error);
  bad = s;
  bad.used_ring = FakeDriver::kMemSize;
  CHECK_THROWS_AS((void)Queue::restore(d.mem, bad), snapfaas::common::Error);
  bad = s;
  bad.max_size = 3;
  CHECK_THROWS_AS((void)Queue::restore(d.mem, bad), snapfaas::common::Error);
}

TEST_CASE("Queue survives random descriptor tables and rings") {
  // Deterministic garbage: every pop must terminate with a status, and every accepted chain must
  // lie inside guest memory and be no longer than the queue.
  FakeDriver d(16);
  std::mt19937_64 rng(0x5eed);
  int ok = 0, errors = 0;
  for (int round = 0; round < 300; ++round) {
    Queue q = d.make_queue(round % 2 ? kIndirectFeature : 0);
    for (std::uint16_t i = 0; i < 16; ++i) {
      // Addresses mostly near real memory so some chains are valid; indices mostly in range.
      const std::uint64_t addr = rng() % 4 == 0 ? rng() : rng() % (FakeDriver::kMemSize + 0x1000);
      const auto len = static_cast<std::uint32_t>(rng() % 3 == 0 ? rng() : rng() % 0x2000);
      const auto flags = static_cast<std::uint16_t>(rng() & 7);
      const auto next = static_cast<std::uint16_t>(rng() % 5 == 0 ? rng() : rng() % 16);
      d.set_desc(i, addr, len, flags, next);
      (void)d.mem.write_obj<std::uint16_t>(FakeDriver::kAvail + 4 + 2ull * i,
                                           static_cast<std::uint16_t>(rng() % 8 == 0 ? rng() : rng() % 16));
    }
    d.set_avail_idx(static_cast<std::uint16_t>(rng() % 40));
    DescriptorChain chain;
    for (int n = 0; n < 40; ++n) {
      const PopStatus s = q.pop(d.mem, chain);
      if (s == PopStatus::kEmpty || s == PopStatus::kAvailIdxJump) break;
      if (s == PopStatus::kOk) {
        ++ok;
        CHECK(chain.buffers.size() <= 16);
        for (const Buffer& b : chain.buffers) CHECK(d.mem.slice(b.gpa, b.len).has_value());
        CHECK(q.add_used(d.mem, chain.head, 0));
      } else {
        ++errors;
        REQUIRE(is_chain_error(s));
      }
    }
  }
  CHECK(ok > 0);      // the generator does produce valid chains...
  CHECK(errors > 0);  // ...and invalid ones
}

TEST_CASE("Queue with a driver on another thread: descriptors published before avail idx are seen") {
  // The driver side uses atomic idx stores/loads like Linux (virtio_wmb + WRITE_ONCE); the device
  // must see each descriptor's contents as written before the avail idx that published it.
  constexpr std::uint16_t kSize = 16;
  constexpr std::uint32_t kRequests = 20000;
  FakeDriver d(kSize);
  Queue q = d.make_queue();
  // SAFETY: both idx fields are 2-byte aligned u16s inside the anonymous mapping, which outlives them.
  auto avail_idx = std::atomic_ref<std::uint16_t>(
      *reinterpret_cast<std::uint16_t*>(d.mem.slice(FakeDriver::kAvail + 2, 2)->data()));
  auto used_idx = std::atomic_ref<std::uint16_t>(
      *reinterpret_cast<std::uint16_t*>(d.mem.slice(FakeDriver::kUsed + 2, 2)->data()));

  std::thread driver([&] {
    for (std::uint32_t k = 0; k < kRequests; ++k) {
      while (static_cast<std::uint16_t>(k - used_idx.load(std::memory_order_acquire)) >= kSize) {
        std::this_thread::yield();
      }
      const auto slot = static_cast<std::uint16_t>(k % kSize);
      d.set_desc(slot, FakeDriver::kData, k, kDescFWrite);  // the length encodes the sequence number
      (void)d.mem.write_obj<std::uint16_t>(FakeDriver::kAvail + 4 + 2ull * slot, slot);
      avail_idx.store(static_cast<std::uint16_t>(k + 1), std::memory_order_release);
    }
  });
  std::uint32_t seen = 0, mismatches = 0;
  DescriptorChain chain;
  while (seen < kRequests) {
    const PopStatus s = q.pop(d.mem, chain);
    if (s == PopStatus::kEmpty) {
      std::this_thread::yield();
      continue;
    }
    REQUIRE(s == PopStatus::kOk);
    if (chain.buffers.size() != 1 || chain.buffers[0].len != seen) ++mismatches;
    REQUIRE(q.add_used(d.mem, chain.head, chain.buffers[0].len));
    ++seen;
  }
  driver.join();
  CHECK(mismatches == 0);
  CHECK(d.used_idx() == static_cast<std::uint16_t>(kRequests));
}
