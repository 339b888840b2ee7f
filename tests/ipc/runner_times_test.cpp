// ipc/runner_times.h: the runner's first-ready mark in the header page — reset by a load, set once
// by the first WAIT answered with a request, read by the supervisor; a racing vCPU never overwrites;
// and the load's KVM counters, absent until published, cleared by the next load.
#include <doctest/doctest.h>

#include <cstddef>
#include <optional>
#include <thread>
#include <vector>

#include "ipc/runner_times.h"

using namespace snapfaas::ipc;

namespace {
struct alignas(4096) Page {
  std::uint8_t bytes[kPageSize] = {};
};
}  // namespace

TEST_CASE("runner times: none, the first mark after a reset wins, the next load resets it") {
  Page page;
  CHECK(runner_first_ready_ns(page.bytes) == 0);
  mark_runner_ready(page.bytes, 1000);
  mark_runner_ready(page.bytes, 2000);  // a later WAIT of the same load: ignored
  CHECK(runner_first_ready_ns(page.bytes) == 1000);
  reset_runner_times(page.bytes);
  CHECK(runner_first_ready_ns(page.bytes) == 0);
  mark_runner_ready(page.bytes, 3000);
  CHECK(runner_first_ready_ns(page.bytes) == 3000);
  // Nothing else in the header page is touched: the restore record just before it stays zero.
  for (std::size_t i = kRestoreRecordOffset; i < kRunnerTimesOffset; ++i) CHECK(page.bytes[i] == 0);
}

TEST_CASE("runner times: vCPU threads racing for the first mark leave exactly one of their values") {
  Page page;
  std::vector<std::thread> threads;
  for (std::uint64_t t = 1; t <= 4; ++t) {
    threads.emplace_back([&page, t] {
      for (int i = 0; i < 1000; ++i) mark_runner_ready(page.bytes, t);
    });
  }
  for (auto& t : threads) t.join();
  const std::uint64_t v = runner_first_ready_ns(page.bytes);
  CHECK(v >= 1);
  CHECK(v <= 4);
}

TEST_CASE("runner times: load counters are absent until published, read whole, and cleared by the next load") {
  Page page;
  CHECK_FALSE(runner_load_counters(page.bytes).has_value());
  publish_load_counters(page.bytes, {.page_faults = 1234, .exits = 1300});
  const std::optional<LoadCounters> c = runner_load_counters(page.bytes);
  REQUIRE(c.has_value());
  CHECK(c->page_faults == 1234);
  CHECK(c->exits == 1300);
  mark_runner_ready(page.bytes, 5000);  // the other part of RunnerTimes is independent of it
  CHECK(runner_load_counters(page.bytes)->exits == 1300);
  reset_runner_times(page.bytes);
  CHECK_FALSE(runner_load_counters(page.bytes).has_value());
  CHECK(runner_first_ready_ns(page.bytes) == 0);
  // A flag word other than 1 (a runner writing garbage) reads as nothing published.
  page.bytes[kRunnerTimesOffset + offsetof(RunnerTimes, load_counted)] = 7;
  CHECK_FALSE(runner_load_counters(page.bytes).has_value());
}
