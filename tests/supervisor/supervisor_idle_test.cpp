// An idle snapfaas-supervisor (fake runners, a workload with a long gap) parks: its event loop wakes
// about as often as its backstop (supervisor/runner_pool.cpp kLoopBackstop, 10 ms), not every
// millisecond. Counted as the loop thread's voluntary context switches (one a park), not timed.
// (That a backstop wake-up parks again without a poll first is not seen here: a poll is no switch.)
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/supervisor/supervisor_env.h"

using namespace supervisor_test;

namespace {

/// voluntary_ctxt_switches of thread `tid` of process `pid` (-1 when gone).
long voluntary_switches(pid_t pid, pid_t tid) {
  const std::string value = proc_status_field(
      "/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/status", "voluntary_ctxt_switches");
  return value.empty() ? -1 : std::stol(value);
}

}  // namespace

TEST_CASE("an idle supervisor's event loop parks for its backstop (<= 300 wake-ups a second), not 1 ms") {
  Env env;
  env.write_config("f:\n  runtimefs: r\n  memory: 64\n");
  // One request now, the next in 4 s: the loop has nothing to do in between.
  env.write_workload({json{{"time", 0}, {"function", "f"}, {"payload", {{"i", 0}}}},
                      json{{"time", 4000}, {"function", "f"}, {"payload", {{"i", 1}}}}});
  const pid_t pid = env.start({"--mem", "128", "--runners", "2"});
  for (int i = 0; i < 300 && children_of(pid).size() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // the first request answered, runners idle
  // The main thread (tid == pid) runs the event loop in replay mode.
  const long before = voluntary_switches(pid, pid);
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const long after = voluntary_switches(pid, pid);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  Run run = env.finish(pid);
  INFO(run.stderr_text);
  CHECK(run.exit_code == 0);
  REQUIRE(run.results.size() == 2);
  CHECK(run.results[0]["status"] == "ok");
  CHECK(run.results[1]["status"] == "ok");
  REQUIRE(before >= 0);
  REQUIRE(after >= before);
  const double per_second = static_cast<double>(after - before) / seconds;
  INFO("event loop wake-ups while idle: " << (after - before) << " in " << seconds << " s = " << per_second << "/s");
  CHECK(per_second > 20);   // it does wake (reaping, consoles): the figure measures the loop thread
  CHECK(per_second < 300);  // a 1 ms backstop: ~1000
}
