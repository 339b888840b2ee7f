// Stats block: writer/reader round trip (runners, functions, totals, outcome names), header
// validation, consistent snapshots across fork().
#include "ipc/stats_block.h"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>

#include <cstring>
#include <numeric>
#include <string>
#include <vector>

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
  StatsWriter w = StatsWriter::create(unique_name("stats"), {3, {}, {"ok", "error"}, "/var/log/snapfaas"});
  StatsReader r = StatsReader::open(w.shm().name());
  CHECK(r.runner_count() == 3);
  CHECK(r.console_dir() == "/var/log/snapfaas");
  CHECK(w.set_state(1, RunnerState::kBusy));
  CHECK(w.set_function(1, "thumbnail"));
  w.record_request({1, -1, true, 0, 1500});
  w.record_request({1, -1, false, 1, 3});
  w.record_request({3, -1, false, 0, 1});  // no such runner: only the totals count it
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
  StatsWriter w = StatsWriter::create(unique_name("stats"), {2, {"f"}, {"ok", "error"}, {}});
  CHECK_THROWS_AS(StatsWriter::create(unique_name("stats"), {0, {}, {"ok"}, {}}), Error);
  CHECK_THROWS_AS(StatsWriter::create(unique_name("stats"), {kMaxStatsRunners + 1, {}, {"ok"}, {}}), Error);
  CHECK_THROWS_AS(StatsWriter::create(unique_name("stats"), {1, {}, {}, {}}), Error);
  CHECK_THROWS_AS(StatsWriter::create(unique_name("stats"), {1, {}, std::vector<std::string>(kMaxOutcomes + 1, "x"), {}}), Error);
  CHECK_THROWS_AS(StatsWriter::create(unique_name("stats"), {1, std::vector<std::string>(kMaxStatsFunctions + 1, "f"), {"ok"}, {}}), Error);
  auto* h = reinterpret_cast<StatsHeader*>(w.shm().data());
  h->outcome_count = kMaxOutcomes + 1;
  CHECK_THROWS_WITH_AS(StatsReader::open(w.shm().name()), doctest::Contains("bad header sizes"), Error);
  h->outcome_count = 2;
  h->function_count = 2;  // sizes no longer add up
  CHECK_THROWS_WITH_AS(StatsReader::open(w.shm().name()), doctest::Contains("bad header sizes"), Error);
  h->function_count = 1;
  h->runner_count = 1000;  // more entries than mapped
  h->total_size = sizeof(StatsHeader) + sizeof(StatsTotals) + 1000ULL * sizeof(StatsEntry) + sizeof(StatsFunctionEntry);
  CHECK_THROWS_WITH_AS(StatsReader::open(w.shm().name()), doctest::Contains("smaller than its header says"), Error);
  h->magic = 0;
  CHECK_THROWS_WITH_AS(StatsReader::open(w.shm().name()), doctest::Contains("bad magic"), Error);
}

TEST_CASE("a reader in another process always sees consistent entries") {
  constexpr std::uint64_t kUpdates = 200000;
  StatsWriter w = StatsWriter::create(unique_name("stats"), {2, {"f"}, {"ok", "error"}, {}});
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
      Result<StatsFunctionSnapshot> f = r.function(0);
      if (!f) continue;
      if (f->outcomes[0] + f->outcomes[1] != f->requests || f->cold + f->warm != f->requests) return 6;
      if (std::accumulate(f->latency_us_log2.begin(), f->latency_us_log2.end(), std::uint64_t{0}) != f->requests) return 7;
    }
    return snapshots > 0 ? 0 : 5;
  });
  for (std::uint64_t i = 0; i < kUpdates; ++i) {
    w.record_request({1, 0, i % 2 == 0, i % 3 == 0 ? 1U : 0U, i % 5000});
  }
  CHECK(wait_child(child) == 0);
}

TEST_CASE("function entries, totals and outcome names") {
  StatsWriter w = StatsWriter::create(unique_name("stats"), {2, {"resize", std::string(60, 'n')}, {"ok", "timeout", "no_capacity"}, {}});
  StatsReader r = StatsReader::open(w.shm().name());
  CHECK(r.function_count() == 2);
  CHECK(r.outcome_names() == std::vector<std::string>{"ok", "timeout", "no_capacity"});
  CHECK(r.function(0)->function_name() == "resize");
  CHECK(r.function(1)->function_name() == std::string(kFunctionNameSize - 1, 'n'));
  CHECK(r.function(2).error() == IpcError::kEntryOutOfRange);
  CHECK(w.add_in_flight(0, 1));
  CHECK(w.add_in_flight(0, 1));
  CHECK(w.add_in_flight(0, -1));
  CHECK_FALSE(w.add_in_flight(2, 1));
  w.record_request({0, 0, true, 0, 100});
  w.record_request({1, 0, false, 1, 3000});
  w.record_request({-1, 0, false, 2, 0});     // dropped: no runner, neither cold nor warm
  w.record_request({-1, -1, false, 9, 5});    // unknown function, outcome out of range: the last
  w.count_load(true);
  w.count_load(false);
  w.count_eviction();
  w.count_runner_failure();
  w.set_load(4, 7);
  w.set_draining(true);
  const StatsFunctionSnapshot f = *r.function(0);
  CHECK(f.in_flight == 1);
  CHECK(f.requests == 3);
  CHECK(f.cold == 1);
  CHECK(f.warm == 1);
  CHECK(f.outcomes[0] == 1);
  CHECK(f.outcomes[1] == 1);
  CHECK(f.outcomes[2] == 1);
  CHECK(f.latency_us_sum == 3100);
  CHECK(f.latency_us_log2[0] == 1);
  CHECK(f.latency_us_log2[6] == 1);
  CHECK(f.latency_us_log2[11] == 1);
  CHECK(r.snapshot(0)->requests == 1);
  CHECK(r.snapshot(1)->errors == 1);
  const StatsTotalsSnapshot t = *r.totals();
  CHECK(t.unattributed[2] == 1);
  CHECK(t.restores == 1);
  CHECK(t.boots == 1);
  CHECK(t.evictions == 1);
  CHECK(t.runner_failures == 1);
  CHECK(t.queue_depth == 4);
  CHECK(t.in_flight == 7);
  CHECK(t.draining);
  CHECK(std::string(runner_state_name(RunnerState::kIdle)) == "idle");
}

TEST_CASE("cold-request phases are summed per function only for the cold requests timed, KVM counts apart") {
  StatsWriter w = StatsWriter::create(unique_name("stats"), {1, {"f"}, {"ok", "error"}, {}});
  StatsReader r = StatsReader::open(w.shm().name());
  RequestSample timed{0, 0, true, 0, 1000};
  timed.cold_timed = true;
  timed.cold_phase_us = {10, 200, 300, 400, 90};
  w.record_request(timed);
  timed.cold_phase_us = {30, 100, 100, 200, 70};
  w.record_request(timed);
  w.record_request({0, 0, true, 0, 5000});  // cold, not timed (e.g. no runner mark): counted, not summed
  w.record_request({0, 0, false, 0, 50});   // warm
  const StatsFunctionSnapshot f = *r.function(0);
  CHECK(f.cold == 3);
  CHECK(f.cold_timed == 2);
  CHECK(f.cold_phase_us_sum == std::array<std::uint64_t, kColdPhases>{40, 300, 400, 600, 160});
  CHECK(std::string(kColdPhaseNames[0]) == "queue");
  CHECK(std::string(kColdPhaseNames[kColdPhases - 1]) == "response");
  // KVM's counts come on their own (possibly after the request was recorded), per function.
  CHECK(f.cold_counted == 0);
  CHECK(w.record_cold_counts(0, 1200, 1300));
  CHECK(w.record_cold_counts(0, 800, 900));
  CHECK_FALSE(w.record_cold_counts(1, 5, 5));  // no such function
  const StatsFunctionSnapshot g = *r.function(0);
  CHECK(g.cold_counted == 2);
  CHECK(g.cold_page_faults_sum == 2000);
  CHECK(g.cold_exits_sum == 2200);
  CHECK(g.cold == 3);  // the request counts are untouched
}

TEST_CASE("a stats block of this process's own name left by a killed process with the same pid is replaced") {
  const std::string name = stats_object_name(::getpid());
  // What a supervisor killed with SIGKILL leaves: the name, with nobody to remove it.
  const int fd = ::shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0644);
  REQUIRE(fd >= 0);
  ::close(fd);
  {
    StatsWriter w = StatsWriter::create(name, {2, {"f"}, {"ok", "error"}, {}});
    CHECK(w.replaced_stale());
    CHECK(w.runner_count() == 2);
    StatsReader r = StatsReader::open(name);
    CHECK(r.runner_count() == 2);
  }
  CHECK_FALSE(ShmObject::remove(name));  // the writer removed its name
  // Any other name that exists is still refused: it may belong to a live process.
  const std::string other = unique_name("stats");
  ShmObject owner = ShmObject::create(other, 4096);
  CHECK_THROWS_WITH_AS(StatsWriter::create(other, {1, {}, {"ok"}, {}}), doctest::Contains("File exists"), Error);
  StatsWriter fresh = StatsWriter::create(unique_name("stats"), {1, {}, {"ok"}, {}});
  CHECK_FALSE(fresh.replaced_stale());
}
