// ipc/restore_record.h: the seqlock'ed restore record — generations, the checked copy, and a
// reader racing a writer never accepting a torn copy.
#include <doctest/doctest.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "ipc/restore_record.h"

using namespace snapfaas::ipc;

namespace {

constexpr std::int64_t kNow = 1'780'000'000LL * 1'000'000'000LL;  // 2026

struct alignas(4096) Page {
  std::uint8_t bytes[kPageSize] = {};
};

std::vector<std::uint8_t> pattern(std::uint8_t value) { return std::vector<std::uint8_t>(kRestoreEntropyBytes, value); }

}  // namespace

TEST_CASE("restore record: none before the first publish, then generations 1, 2 with their fields") {
  Page page;
  RestoreRecord copy{};
  CHECK(read_restore_record(page.bytes, &copy) == RestoreRecordCheck::kNone);
  CHECK(restore_generation(copy) == 0);

  CHECK(publish_restore_record(page.bytes, 0x1111, kNow, pattern(7).data()) == 1);
  REQUIRE(read_restore_record(page.bytes, &copy) == RestoreRecordCheck::kOk);
  CHECK(restore_generation(copy) == 1);
  CHECK(copy.nonce == 0x1111);
  CHECK(copy.realtime_ns == kNow);
  CHECK(copy.entropy[0] == 7);
  CHECK(copy.entropy[kRestoreEntropyBytes - 1] == 7);

  CHECK(publish_restore_record(page.bytes, 0x2222, kNow + 5, pattern(9).data()) == 2);
  REQUIRE(read_restore_record(page.bytes, &copy) == RestoreRecordCheck::kOk);
  CHECK(restore_generation(copy) == 2);
  CHECK(copy.nonce == 0x2222);
  CHECK(copy.entropy[3] == 9);
  // Nothing outside the record was touched (the doorbells sit right before it).
  for (std::uint64_t i = 0; i < kPageSize; ++i) {
    if (i >= kRestoreRecordOffset && i < kRestoreRecordOffset + sizeof(RestoreRecord)) continue;
    REQUIRE(page.bytes[i] == 0);
  }
}

TEST_CASE("restore record: a copy is validated (version, entropy size, clock) and an odd seq is never accepted") {
  Page page;
  RestoreRecord copy{};
  (void)publish_restore_record(page.bytes, 1, kNow, pattern(1).data());
  auto* record = reinterpret_cast<RestoreRecord*>(page.bytes + kRestoreRecordOffset);

  record->version = 99;
  CHECK(read_restore_record(page.bytes, &copy) == RestoreRecordCheck::kBadVersion);
  record->version = kRestoreRecordVersion;
  record->entropy_size = 8;
  CHECK(read_restore_record(page.bytes, &copy) == RestoreRecordCheck::kBadVersion);
  record->entropy_size = kRestoreEntropyBytes;
  record->realtime_ns = 12345;
  CHECK(read_restore_record(page.bytes, &copy) == RestoreRecordCheck::kBadClock);
  record->realtime_ns = kNow;
  CHECK(read_restore_record(page.bytes, &copy) == RestoreRecordCheck::kOk);

  record->seq = 5;  // a writer that died mid-write
  CHECK(read_restore_record(page.bytes, &copy, 50) == RestoreRecordCheck::kBusy);
  // The next publish starts from the even value below and completes a consistent generation.
  CHECK(publish_restore_record(page.bytes, 3, kNow, pattern(3).data()) == 3);
  CHECK(read_restore_record(page.bytes, &copy) == RestoreRecordCheck::kOk);
}

TEST_CASE("restore record: a reader racing a writer only ever accepts whole records") {
  Page page;
  std::atomic<bool> done{false};
  // Every record the writer publishes is self-consistent: each entropy byte and the nonce's low
  // byte are the same value, the clock is kNow + that value. A torn copy mixes two of them.
  std::thread writer([&] {
    for (unsigned i = 0; i < 200'000; ++i) {
      const auto v = static_cast<std::uint8_t>(i);
      (void)publish_restore_record(page.bytes, 0xAB00 | v, kNow + v, pattern(v).data());
    }
    done.store(true, std::memory_order_release);
  });
  std::uint64_t accepted = 0, last_generation = 0;
  while (!done.load(std::memory_order_acquire)) {
    RestoreRecord copy{};
    const RestoreRecordCheck check = read_restore_record(page.bytes, &copy);
    if (check != RestoreRecordCheck::kOk) {
      REQUIRE((check == RestoreRecordCheck::kNone || check == RestoreRecordCheck::kBusy));
      continue;
    }
    const auto v = static_cast<std::uint8_t>(copy.nonce & 0xFF);
    REQUIRE((copy.nonce >> 8) == 0xAB);
    REQUIRE(copy.realtime_ns == kNow + v);
    for (std::uint32_t b = 0; b < kRestoreEntropyBytes; ++b) REQUIRE(copy.entropy[b] == v);
    REQUIRE(restore_generation(copy) >= last_generation);  // generations never go back
    last_generation = restore_generation(copy);
    ++accepted;
  }
  writer.join();
  CHECK(accepted > 0);
  RestoreRecord last{};
  REQUIRE(read_restore_record(page.bytes, &last) == RestoreRecordCheck::kOk);
  CHECK(restore_generation(last) == 200'000);
}
