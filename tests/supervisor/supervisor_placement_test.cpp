// snapfaas-supervisor's CPU placement (supervisor/cpu_placement.h) with fake_runner (jailed
// runners): --supervisor_cpus pins every supervisor thread, --runner_cpus every thread of every
// runner (set in the jailer's child); a list it may not use is one line and exit 1, no runner.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <sched.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "tests/supervisor/supervisor_env.h"

using namespace supervisor_test;

namespace {

/// Cpus_allowed_list of every thread of `pid` (/proc/PID/task/*/status).
std::vector<std::string> thread_cpus(pid_t pid) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    if (std::string cpus = proc_status_field(task.path() / "status", "Cpus_allowed_list"); !cpus.empty()) {
      out.push_back(std::move(cpus));
    }
  }
  return out;
}

/// The first and the last CPU this process may use (the same one on a 1-CPU machine).
std::pair<int, int> first_and_last_cpu() {
  cpu_set_t set;
  CPU_ZERO(&set);
  REQUIRE(::sched_getaffinity(0, sizeof set, &set) == 0);
  int first = -1, last = -1;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &set)) continue;
    if (first < 0) first = cpu;
    last = cpu;
  }
  return {first, last};
}

}  // namespace

TEST_CASE("CPU placement: --supervisor_cpus pins the supervisor's threads, --runner_cpus every runner's") {
  const auto [runner_cpu, supervisor_cpu] = first_and_last_cpu();
  INFO("runner CPU " << runner_cpu << ", supervisor CPU " << supervisor_cpu);
  Env env;
  env.write_config("f:\n  runtimefs: r\n  memory: 64\n");
  std::vector<json> lines;
  for (int i = 0; i < 2000; ++i) lines.push_back({{"time", i * 5}, {"function", "f"}, {"payload", {{"i", i}}}});
  env.write_workload(lines);  // 10 s of work: interrupted once the threads are read
  const pid_t pid = env.start({"--mem", "128", "--runners", "2", "--supervisor_cpus", std::to_string(supervisor_cpu),
                               "--runner_cpus", std::to_string(runner_cpu)});
  for (int i = 0; i < 300 && children_of(pid).size() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // requests served: runner threads all up
  const std::vector<std::string> supervisor_threads = thread_cpus(pid);
  std::vector<std::string> runner_threads;
  const std::vector<pid_t> runners = children_of(pid);
  for (pid_t runner : runners) {
    for (auto& cpus : thread_cpus(runner)) runner_threads.push_back(cpus);
  }
  ::kill(pid, SIGTERM);
  Run run = env.finish(pid);
  INFO(run.stderr_text);
  CHECK(run.exit_code == 0);
  CHECK(runners.size() == 2);
  CHECK(supervisor_threads.size() >= 1);
  for (const auto& cpus : supervisor_threads) CHECK(cpus == std::to_string(supervisor_cpu));
  CHECK(runner_threads.size() >= 2);
  for (const auto& cpus : runner_threads) CHECK(cpus == std::to_string(runner_cpu));
  CHECK(run.stats["completed"].get<int>() > 0);
}

TEST_CASE("CPU placement: a CPU list the supervisor may not use, or no list at all, is one line and exit 1") {
  Env env;
  env.write_config("f:\n  runtimefs: r\n  memory: 64\n");
  env.write_workload({{{"time", 0}, {"function", "f"}, {"payload", json::object()}}});
  const auto [first, last] = first_and_last_cpu();
  const std::string unusable = std::to_string(last + 1);  // past the last CPU this process may use
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--runner_cpus", unusable}, "--runner_cpus " + unusable + ": CPU " + unusable + " is not one this process may use"},
      {{"--supervisor_cpus", "0-"}, "--supervisor_cpus 0-: expected a CPU list such as 0, 1-3 or 0,2-3"},
      {{"--runner_cpus", "1,x"}, "--runner_cpus 1,x: expected a CPU list"},
      {{"--supervisor_cpus", "3-1"}, "--supervisor_cpus 3-1: expected a CPU list"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args{"--mem", "64", "--runners", "1"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    Run run = env.run(args);
    INFO(c.args[0] << " " << c.args[1] << ": " << run.stderr_text);
    CHECK(run.exit_code == 1);
    CHECK(run.stderr_text.find(c.message) != std::string::npos);
    CHECK(std::count(run.stderr_text.begin(), run.stderr_text.end(), '\n') == 1);
    CHECK(run.results.empty());
  }
}
