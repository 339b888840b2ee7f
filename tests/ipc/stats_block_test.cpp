// Stats block: writer/reader round trip, header validation, consistent snapshots across fork().
#include "ipc/stats_block.h"

#include <doctest/doctest.h>

#include <cstring>
#include <numeric>
#include <string>

#include "common/error.h"
#include "tests/ipc/test_support.h"

using namespace snapfaas::ipc;
using snapfaas::common::Error;
using snapfaas::ipc::test::fork_child;
using snapfaas::ipc::test::unique_name;
using snapfaas::ipc::test::wait_child;

TEST_CASE("latency buckets are floor(log2(us)), capped") {
  CHECK(latency_bucket(0) == 0);
  CHECK(latency_bucket(1) == 0);
  CHECK(latency_bucket(2) == 1);
  CHECK(latency_bucket(3) == 1);
  CHECK(latency_bucket(1024) == 10);
  CHECK(latency_bucket(~std::uint64_t{0}) == kLatencyBuckets - 1);
}

TEST_CASE("writer updates are visible to a reader") {
  StatsWriter w = StatsWriter::create(unique_name("stats"), 3);
  StatsReader r = StatsReader::open(w.shm().name());
  CHECK(r.runner_count() == 3);
  CHECK(w.set_state(1, RunnerState::kBusy));
  CHECK(w.set_function(1, "thumbnail"));
  CHECK(w.record_request(1, true, false, 1500));
  CHECK(w.record_request(1, false, true, 3));
  CHECK_FALSE(w.record_request(3, false, false, 1));
  Result<StatsSnapshot> s = r.snapshot(1);
  REQUIRE(s);
  CHECK(s->state == RunnerState::kBusy);
  CHECK(s->function_name() == "thumbnail");
  CHECK(s->requests == 2);
  CHECK(s->cold == 1);
  CHECK(s->warm == 1);
  CHECK(s->errors == 1);
  CHECK(s->latency_us_log2[10] == 1);
  CHECK(s->latency_us_log2[1] == 1);
  CHECK(r.snapshot(0)->requests == 0);
  CHECK(r.snapshot(3).error() == IpcError::kEntryOutOfRange);
  CHECK(w.set_function(2, std::string(100, 'f')));
  CHECK(r.snapshot(2)->function_name() == std::string(kFunctionNameSize - 1, 'f'));
}

TEST_CASE("reader rejects a corrupt header; writer rejects bad runner counts") {
  StatsWriter w = StatsWriter::create(unique_name("stats"), 2);
  CHECK_THROWS_AS(StatsWriter::create(unique_name("stats"), 0), Error);
  CHECK_THROWS_AS(StatsWriter::create(unique_name("stats"), kMaxStatsRunners + 1), Error);
  auto* h = reinterpret_cast<StatsHeader*>(w.shm().data());
  h->runner_count = 1000;  // more entries than mapped
  h->total_size = sizeof(StatsHeader) + 1000ULL * sizeof(StatsEntry);
  CHECK_THROWS_WITH_AS(StatsReader::open(w.shm().name()), doctest::Contains("smaller than its header says"), Error);
  h->magic = 0;
  CHECK_THROWS_WITH_AS(StatsReader::open(w.shm().name()), doctest::Contains("bad magic"), Error);
}

TEST_CASE("a reader in another process always sees consistent entries") {
  constexpr std::uint64_t kUpdates = 200000;
  StatsWriter w = StatsWriter::create(unique_name("stats"), 2);
  const std::string name = w.shm().name();
  const pid_t child = fork_child([&name] {
    StatsReader r = StatsReader::open(name);
    std::uint64_t last = 0, snapshots = 0;
    while (last < kUpdates) {
      Result<StatsSnapshot> s = r.snapshot(1);
      if (!s) continue;  // kBusy under heavy writing: retry
      ++snapshots;
      const std::uint64_t hist = std::accumulate(s->latency_us_log2.begin(), s->latency_us_log2.end(), std::uint64_t{0});
      if (s->requests != s->cold + s->warm) return 1;
      if (hist != s->requests) return 2;
      if (s->errors * 3 > s->requests + 2) return 3;  // every third request is an error
      if (s->requests < last) return 4;
      last = s->requests;
    }
    return snapshots > 0 ? 0 : 5;
  });
  for (std::uint64_t i = 0; i < kUpdates; ++i) w.record_request(1, i % 2 == 0, i % 3 == 0, i % 5000);
  CHECK(wait_child(child) == 0);
}
