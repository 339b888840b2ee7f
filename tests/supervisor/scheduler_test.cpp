// Tests of supervisor/scheduler: warm/cold placement, MRU warm choice, LRU eviction across
// functions, memory budget, concurrency limit, queue bound, keep-alive, runner failure.
#include <doctest/doctest.h>

#include <algorithm>

#include "common/error.h"
#include "supervisor/scheduler.h"

using namespace snapfaas::supervisor;
using std::chrono::milliseconds;

namespace {

/// A function as these tests describe it: name, memory MiB, concurrency limit.
struct Fn {
  std::string name;
  std::uint32_t memory;
  std::uint32_t limit;
};

std::vector<FunctionConfig> configs(const std::vector<Fn>& fns) {
  std::vector<FunctionConfig> out;
  for (const Fn& f : fns) {
    FunctionConfig c;
    c.name = f.name;
    c.memory = f.memory;
    c.concurrency_limit = f.limit;
    out.push_back(c);
  }
  return out;
}

struct Fixture {
  TimePoint t0 = TimePoint{} + std::chrono::hours(1);
  TimePoint at(int ms) const { return t0 + milliseconds(ms); }

  static Scheduler make(std::uint64_t mem, std::uint32_t runners, const std::vector<Fn>& fns,
                        std::size_t queue = 16, milliseconds keep_alive = milliseconds(0)) {
    Scheduler s({mem, runners, queue, keep_alive}, configs(fns));
    for (std::uint32_t r = 0; r < runners; ++r) CHECK(s.runner_ready(r, TimePoint{}).empty());
    return s;
  }
};

std::size_t count(const std::vector<Action>& a, ActionKind kind) {
  return static_cast<std::size_t>(std::count_if(a.begin(), a.end(), [&](const Action& x) { return x.kind == kind; }));
}

}  // namespace

TEST_CASE_FIXTURE(Fixture, "first request is cold, the next after completion is warm on the same VM") {
  Scheduler s = make(1024, 4, {{"f", 128, 2}});
  auto a = s.submit(1, 0, at(0));
  REQUIRE(a.size() == 1);
  CHECK(a[0] == Action{ActionKind::kRunCold, 1, 0, 0});
  CHECK(s.used_mib() == 128);
  CHECK(s.complete(0, at(1)).empty());
  CHECK(s.slot_state(0) == snapfaas::ipc::RunnerState::kIdle);
  a = s.submit(2, 0, at(2));
  REQUIRE(a.size() == 1);
  CHECK(a[0] == Action{ActionKind::kRunWarm, 2, 0, 0});
  CHECK(s.counters().cold == 1);
  CHECK(s.counters().warm == 1);
}

TEST_CASE_FIXTURE(Fixture, "warm picks the most recently used idle VM") {
  Scheduler s = make(1024, 4, {{"f", 128, 3}});
  (void)s.submit(1, 0, at(0));
  (void)s.submit(2, 0, at(0));
  (void)s.submit(3, 0, at(0));
  (void)s.complete(1, at(5));
  (void)s.complete(0, at(6));
  (void)s.complete(2, at(7));
  auto a = s.submit(4, 0, at(8));
  REQUIRE(a.size() == 1);
  CHECK(a[0] == Action{ActionKind::kRunWarm, 4, 2, 0});
  a = s.submit(5, 0, at(9));
  CHECK(a[0] == Action{ActionKind::kRunWarm, 5, 0, 0});
}

TEST_CASE_FIXTURE(Fixture, "concurrency limit: extra requests wait, then run warm in FIFO order") {
  Scheduler s = make(1024, 4, {{"f", 128, 1}});
  CHECK(count(s.submit(1, 0, at(0)), ActionKind::kRunCold) == 1);
  CHECK(s.submit(2, 0, at(1)).empty());
  CHECK(s.submit(3, 0, at(1)).empty());
  CHECK(s.queued() == 2);
  auto a = s.complete(0, at(2));
  REQUIRE(a.size() == 1);
  CHECK(a[0] == Action{ActionKind::kRunWarm, 2, 0, 0});
  a = s.complete(0, at(3));
  CHECK(a[0] == Action{ActionKind::kRunWarm, 3, 0, 0});
  CHECK(s.counters().cold == 1);
  CHECK(s.counters().warm == 2);
}

TEST_CASE_FIXTURE(Fixture, "memory budget: idle VMs evicted LRU across functions, then cold on a recycled runner") {
  // 3 runners but memory for two 128 MiB VMs.
  Scheduler s = make(256, 3, {{"a", 128, 4}, {"b", 128, 4}, {"c", 128, 4}});
  (void)s.submit(1, 0, at(0));  // a on runner 0
  (void)s.submit(2, 1, at(0));  // b on runner 1
  CHECK(s.used_mib() == 256);
  (void)s.complete(1, at(10));  // b idle since 10
  (void)s.complete(0, at(20));  // a idle since 20
  auto acts = s.submit(3, 2, at(30));  // c: must evict the LRU idle VM = b (runner 1); runner 2 is empty
  REQUIRE(acts.size() == 2);
  CHECK(acts[0] == Action{ActionKind::kEvict, 0, 1, 1});
  CHECK(acts[1] == Action{ActionKind::kRunCold, 3, 2, 2});
  CHECK(s.used_mib() == 256);
  CHECK(s.counters().evictions == 1);
  // a again: warm on runner 0, untouched by the eviction.
  acts = s.submit(4, 0, at(31));
  CHECK(acts[0] == Action{ActionKind::kRunWarm, 4, 0, 0});
}

TEST_CASE_FIXTURE(Fixture, "no empty runner: evict LRU, wait for it to be ready, then cold") {
  Scheduler s = make(1024, 2, {{"a", 128, 4}, {"b", 128, 4}});
  (void)s.submit(1, 0, at(0));
  (void)s.submit(2, 0, at(0));
  (void)s.complete(1, at(5));
  (void)s.complete(0, at(6));
  auto acts = s.submit(3, 1, at(7));
  REQUIRE(acts.size() == 1);
  CHECK(acts[0] == Action{ActionKind::kEvict, 0, 1, 0});  // runner 1 was idle the longest
  CHECK(s.queued() == 1);
  // A second queued b must not evict the other a VM: the recycling runner is already promised.
  CHECK(s.submit(4, 1, at(8)).size() == 1);  // evicts runner 0 for request 4 — it needs its own runner
  CHECK(s.counters().evictions == 2);
  acts = s.runner_ready(1, at(9));
  REQUIRE(acts.size() == 1);
  CHECK(acts[0] == Action{ActionKind::kRunCold, 3, 1, 1});
  acts = s.runner_ready(0, at(9));
  CHECK(acts[0] == Action{ActionKind::kRunCold, 4, 0, 1});
}

TEST_CASE_FIXTURE(Fixture, "one recycling runner is not promised twice and nothing extra is evicted") {
  Scheduler s = make(1024, 2, {{"a", 128, 1}, {"b", 128, 1}});
  (void)s.submit(1, 0, at(0));   // a on 0
  (void)s.complete(0, at(1));
  (void)s.submit(2, 1, at(2));   // b on 1 (busy)
  auto acts = s.submit(3, 1, at(3));  // b at its limit: waits, evicts nothing
  CHECK(acts.empty());
  CHECK(s.counters().evictions == 0);
}

TEST_CASE_FIXTURE(Fixture, "queue bound: past it requests are dropped") {
  Scheduler s = make(128, 1, {{"f", 128, 1}}, /*queue=*/2);
  CHECK(count(s.submit(1, 0, at(0)), ActionKind::kRunCold) == 1);
  CHECK(s.submit(2, 0, at(0)).empty());
  CHECK(s.submit(3, 0, at(0)).empty());
  auto a = s.submit(4, 0, at(0));
  REQUIRE(a.size() == 1);
  CHECK(a[0] == Action{ActionKind::kDrop, 4, 0, 0});
  CHECK(s.counters().dropped == 1);
  CHECK(s.queued() == 2);
}

TEST_CASE_FIXTURE(Fixture, "withdraw takes one function's queued requests, oldest first, and leaves the others queued") {
  Scheduler s = make(256, 1, {{"f", 128, 1}, {"g", 128, 1}}, /*queue=*/8);
  CHECK(count(s.submit(1, 0, at(0)), ActionKind::kRunCold) == 1);  // the one runner: busy with f
  CHECK(s.submit(2, 1, at(0)).empty());
  CHECK(s.submit(3, 0, at(0)).empty());
  CHECK(s.submit(4, 1, at(0)).empty());
  CHECK(s.submit(5, 0, at(0)).empty());
  CHECK(s.withdraw(0) == std::vector<std::uint64_t>{3, 5});
  CHECK(s.queued() == 2);
  CHECK(s.withdraw(0).empty());
  // The runner frees up: f's idle VM is evicted for g, whose oldest request runs next.
  CHECK(s.complete(0, at(1)) == std::vector<Action>{{ActionKind::kEvict, 0, 0, 0}});
  CHECK(s.runner_ready(0, at(2)) == std::vector<Action>{{ActionKind::kRunCold, 2, 0, 1}});
}

TEST_CASE_FIXTURE(Fixture, "busy VMs are never evicted; requests wait for memory") {
  Scheduler s = make(256, 4, {{"a", 128, 4}, {"b", 256, 4}});
  (void)s.submit(1, 0, at(0));
  CHECK(s.submit(2, 1, at(1)).empty());  // b needs 256, a is busy
  CHECK(s.counters().evictions == 0);
  auto acts = s.complete(0, at(2));  // now a is idle: evict it, then b runs cold
  REQUIRE(acts.size() == 2);
  CHECK(acts[0].kind == ActionKind::kEvict);
  CHECK(acts[1] == Action{ActionKind::kRunCold, 2, 1, 1});
  CHECK(s.used_mib() == 256);
}

TEST_CASE_FIXTURE(Fixture, "keep-alive evicts idle VMs older than the timeout") {
  Scheduler s = make(1024, 2, {{"a", 128, 2}}, 16, milliseconds(100));
  (void)s.submit(1, 0, at(0));
  (void)s.submit(2, 0, at(0));
  (void)s.complete(0, at(10));
  (void)s.complete(1, at(60));
  CHECK(s.next_expiry() == at(110));
  CHECK(s.tick(at(109)).empty());
  auto a = s.tick(at(110));
  REQUIRE(a.size() == 1);
  CHECK(a[0] == Action{ActionKind::kEvict, 0, 0, 0});
  CHECK(s.next_expiry() == at(160));
  CHECK(s.tick(at(200)).size() == 1);
  CHECK(s.used_mib() == 0);
}

TEST_CASE_FIXTURE(Fixture, "runner failure frees its memory and its slot until ready again") {
  Scheduler s = make(128, 1, {{"a", 128, 1}});
  (void)s.submit(1, 0, at(0));
  CHECK(s.submit(2, 0, at(1)).empty());
  CHECK(s.runner_failed(0, at(2)).empty());
  CHECK(s.used_mib() == 0);
  CHECK(s.slot_state(0) == snapfaas::ipc::RunnerState::kStarting);
  auto a = s.runner_ready(0, at(3));
  REQUIRE(a.size() == 1);
  CHECK(a[0] == Action{ActionKind::kRunCold, 2, 0, 0});
  CHECK(s.counters().cold == 2);
}

TEST_CASE_FIXTURE(Fixture, "a long warm/cold mix: counts add up and the budget always holds") {
  Scheduler s = make(512, 6, {{"a", 128, 3}, {"b", 64, 3}, {"c", 256, 2}}, 1'000'000);
  std::vector<std::uint32_t> busy;
  std::uint64_t submitted = 0, started = 0;
  int t = 0;
  auto apply = [&](const std::vector<Action>& acts) {
    for (const auto& a : acts) {
      if (a.kind == ActionKind::kRunWarm || a.kind == ActionKind::kRunCold) {
        ++started;
        busy.push_back(a.runner);
      } else if (a.kind == ActionKind::kEvict) {
        auto more = s.runner_ready(a.runner, at(t));
        for (const auto& m : more) {
          REQUIRE(m.kind != ActionKind::kEvict);
          if (m.kind != ActionKind::kDrop) {
            ++started;
            busy.push_back(m.runner);
          }
        }
      }
      CHECK(s.used_mib() <= 512);
    }
  };
  for (int i = 0; i < 5000; ++i, ++t) {
    apply(s.submit(++submitted, static_cast<std::uint32_t>((i * 7 + i / 13) % 3), at(t)));
    if (i % 2 == 1 && !busy.empty()) {
      const std::uint32_t r = busy.front();
      busy.erase(busy.begin());
      apply(s.complete(r, at(t)));
    }
  }
  while (!busy.empty()) {
    const std::uint32_t r = busy.front();
    busy.erase(busy.begin());
    apply(s.complete(r, at(++t)));
  }
  CHECK(s.queued() == 0);
  CHECK(started == submitted);
  CHECK(s.counters().warm + s.counters().cold == submitted);
  CHECK(s.counters().warm > 0);
  CHECK(s.counters().cold >= 3);
  CHECK(s.counters().evictions > 0);
}

TEST_CASE("scheduler: a function bigger than the budget is a configuration error") {
  CHECK_THROWS_AS(Scheduler({128, 1, 1, milliseconds(0)}, configs({{"big", 256, 1}})), snapfaas::common::Error);
  CHECK_THROWS_AS(Scheduler({128, 0, 1, milliseconds(0)}, configs({{"f", 64, 1}})), snapfaas::common::Error);
}
