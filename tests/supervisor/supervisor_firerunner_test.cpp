// snapfaas-supervisor end to end with the real firerunner serving ring-3 echo guests through the
// ring window (jailed: own /dev/kvm node, uid 65534): 10^4 requests, eviction, a hostile guest,
// restored echo snapshots, restore faults.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "ipc/channel.h"
#include "tests/supervisor/supervisor_env.h"

using namespace supervisor_test;

namespace {

// The same supervisor with the real firerunner serving ring-3 echo guests through the ring window
// (jailed: own /dev/kvm node, uid 65534).

// 10^4 requests alternating between functions a and b, four per millisecond, through 4 runners;
// every one must come back ok with its payload echoed.
Run run_echo_burst(const Env& env) {
  std::vector<json> lines;
  for (int i = 0; i < 10'000; ++i) {
    lines.push_back({{"time", i / 4}, {"function", i % 2 == 0 ? "a" : "b"}, {"payload", {{"n", i}}}});
  }
  env.write_workload(lines);
  Run run = env.run({"--mem", "64", "--runners", "4", "--queue", "20000"});
  INFO(run.stderr_text.substr(0, 4000));
  REQUIRE(run.exit_code == 0);
  REQUIRE(run.results.size() == 10'000);
  for (auto& r : run.results) {
    REQUIRE(r["status"] == "ok");
    CHECK(r["response"]["n"] == r["id"]);  // the guest echoes the payload
  }
  return run;
}

int count_cold(Run& run) {
  int cold = 0;
  for (auto& r : run.results) cold += r["cold"].get<bool>() ? 1 : 0;
  return cold;
}

// Function file: ring-3 echo functions `names`, booted from the echo guest, 16 MiB, 2 VMs each.
std::string echo_functions(std::initializer_list<const char*> names) {
  std::string fns;
  for (const char* n : names) {
    fns += std::string(n) + ":\n  kernel: " + SNAPFAAS_ECHO_GUEST_PATH + "\n  ring3: true\n  memory: 16\n  concurrency_limit: 2\n";
  }
  return fns;
}
TEST_CASE("real firerunner, ring-3 echo guests: 10^4 requests all answered, then eviction under a tight --mem") {
  Env env;
  env.write_config(echo_functions({"a", "b", "c"}), SNAPFAAS_FIRERUNNER_PATH);
  Run run = run_echo_burst(env);
  const int cold = count_cold(run);
  CHECK(cold >= 2);
  CHECK(cold <= 4);
  CHECK(run.stats["evictions"] == 0);
  CHECK(shm_leftovers(run.pid).empty());

  std::vector<json> lines;
  for (int i = 0; i < 30; ++i) lines.push_back({{"time", i * 20}, {"function", std::string(1, "abc"[i % 3])}, {"payload", {{"n", i}}}});
  env.write_workload(lines);
  run = env.run({"--mem", "32", "--runners", "3"});
  REQUIRE(run.exit_code == 0);
  REQUIRE(run.results.size() == 30);
  for (auto& r : run.results) CHECK(r["status"] == "ok");
  CHECK(run.stats["evictions"].get<int>() >= 10);
  CHECK(run.stats["cold"].get<int>() - run.stats["evictions"].get<int>() <= 2);
}
TEST_CASE("real firerunner, a hostile guest corrupts its response ring: only its request and VM are lost") {
  Env env;
  env.write_config(echo_functions({"a", "b"}), SNAPFAAS_FIRERUNNER_PATH);
  constexpr int kHostile = 50;
  std::vector<json> lines;
  for (int i = 0; i < 200; ++i) {
    json payload = i == kHostile ? json{{"hostile", 1}} : json{{"n", i}};
    lines.push_back({{"time", i}, {"function", i % 2 == 0 ? "a" : "b"}, {"payload", payload}});
  }
  env.write_workload(lines);
  Run run = env.run({"--mem", "64", "--runners", "4"});
  INFO(run.stderr_text.substr(0, 4000));
  REQUIRE(run.exit_code == 0);
  REQUIRE(run.results.size() == 200);
  for (auto& r : run.results) {
    if (r["id"] == kHostile) {
      CHECK(r["status"] == "error");
      CHECK(r["error"].get<std::string>().find("bad response") != std::string::npos);
    } else {
      CHECK(r["status"] == "ok");
      CHECK(r["response"]["n"] == r["id"]);
    }
  }
  CHECK(run.stats["runner_failures"].get<int>() == 1);
  CHECK(shm_leftovers(run.pid).empty());
}

TEST_CASE("real firerunner, a guest scribbles the response ring head it does not own: the supervisor still sleeps") {
  // {"scribble"...}: the echo guest writes garbage into the response ring's head (the supervisor's
  // consumer index) and never answers. The supervisor judges its rings by its private indices only,
  // so it sleeps until the deadline instead of spinning on "tail != head"; the request after it is
  // served by another VM.
  Env env;
  env.write_config(echo_functions({"a"}), SNAPFAAS_FIRERUNNER_PATH);
  env.write_workload({{{"time", 0}, {"function", "a"}, {"payload", {{"scribble", 1}}}},
                      {{"time", 1500}, {"function", "a"}, {"payload", {{"n", 1}}}}});
  Run run = env.run({"--mem", "64", "--runners", "2", "--deadline", "2500"});
  INFO(run.stderr_text.substr(0, 4000));
  REQUIRE(run.exit_code == 0);
  REQUIRE(run.results.size() == 2);
  CHECK(run.results[0]["status"] == "error");
  CHECK(run.results[0]["error"].get<std::string>().find("deadline exceeded") != std::string::npos);
  CHECK(run.results[1]["status"] == "ok");
  const double wall = run.stats["loop_wall_ms"].get<double>();
  const double cpu = run.stats["loop_cpu_ms"].get<double>();
  INFO("event loop: " << cpu << " ms CPU in " << wall << " ms");
  CHECK(wall >= 2500);
  CHECK(cpu < 0.2 * wall);  // a loop spinning on the scribbled head burns ~100% of its wall time
}

// A base snapshot of the ring-3 echo guest at its SNAPSHOT_POINT: firerunner with a channel of
// our own and --dump_dir, as fc_wrapper builds snapshots. Made readable for the jailed uid.
fs::path make_echo_snapshot(const fs::path& dir) {
  const fs::path out = dir / "echo-base";
  const std::string name = "/snapfaas-test-dump-" + std::to_string(::getpid());
  auto channel = snapfaas::ipc::SupervisorChannel::create(name, {});
  const std::string command = std::string(SNAPFAAS_FIRERUNNER_PATH) + " --kernel " + SNAPFAAS_ECHO_GUEST_PATH +
                              " --ring3 --mem_size 16 --channel " + name + " --dump_dir " + out.string() +
                              " --log-level warn > " + (dir / "dump.txt").string() + " 2>&1";
  const int rc = std::system(command.c_str());
  std::ifstream log(dir / "dump.txt");
  std::stringstream text;
  text << log.rdbuf();
  INFO(text.str());
  REQUIRE(rc == 0);
  REQUIRE(text.str().find("Snapshot generation succeeds") != std::string::npos);
  fs::permissions(dir, fs::perms::others_read | fs::perms::others_exec, fs::perm_options::add);
  for (const auto& e : fs::recursive_directory_iterator(out)) {
    fs::permissions(e.path(), fs::perms::others_read | (e.is_directory() ? fs::perms::others_exec : fs::perms::none),
                    fs::perm_options::add);
  }
  fs::permissions(out, fs::perms::others_read | fs::perms::others_exec, fs::perm_options::add);
  return out;
}

std::string restoring_function(const std::string& name, const fs::path& load_dir, int concurrency = 2) {
  return name + ":\n  kernel: " + SNAPFAAS_ECHO_GUEST_PATH + "\n  ring3: true\n  memory: 16\n  concurrency_limit: " +
         std::to_string(concurrency) + "\n  load_dir: " + load_dir.string() + "\n";
}

TEST_CASE("real firerunner, restored echo snapshots: 10^4 requests, cold starts are restores, eviction") {
  Env env;
  const fs::path snap = make_echo_snapshot(env.dir);
  env.write_config(restoring_function("a", snap) + restoring_function("b", snap), SNAPFAAS_FIRERUNNER_PATH);
  Run run = run_echo_burst(env);
  const int cold = count_cold(run);
  CHECK(cold >= 2);
  CHECK(cold <= 4);
  CHECK(run.stats["restores"] == cold);  // every cold start was a snapshot restore
  CHECK(run.stats["boots"] == 0);
  CHECK(shm_leftovers(run.pid).empty());

  std::vector<json> lines;
  for (int i = 0; i < 30; ++i) lines.push_back({{"time", i * 20}, {"function", i % 2 == 0 ? "a" : "b"}, {"payload", {{"n", i}}}});
  env.write_workload(lines);
  run = env.run({"--mem", "16", "--runners", "1"});
  REQUIRE(run.exit_code == 0);
  REQUIRE(run.results.size() == 30);
  for (auto& r : run.results) CHECK(r["status"] == "ok");
  CHECK(run.stats["evictions"].get<int>() >= 28);
  CHECK(run.stats["restores"].get<int>() == run.stats["cold"].get<int>());
}

TEST_CASE("real firerunner, restore faults: killed mid-restore, corrupt snapshot, forbidden syscall; the rest answered") {
  Env env;
  const fs::path snap = make_echo_snapshot(env.dir);
  const fs::path bad = env.dir / "echo-corrupt";
  fs::copy(snap, bad, fs::copy_options::recursive);
  {
    std::fstream f(bad / "state", std::ios::in | std::ios::out | std::ios::binary);
    REQUIRE(f);
    f.seekp(100);
    f.write("\xde\xad\xbe\xef", 4);  // breaks the state file's CRC
  }
  for (const auto& e : fs::recursive_directory_iterator(bad)) {
    fs::permissions(e.path(), fs::perms::others_read, fs::perm_options::add);
  }
  env.write_config(restoring_function("ok", snap) + restoring_function("killed", snap) +
                       restoring_function("corrupt", bad) + restoring_function("sys", snap),
                   SNAPFAAS_HOOKED_FIRERUNNER_PATH);  // the --test_hook runs below
  std::vector<json> lines;
  for (int i = 0; i < 200; ++i) {
    std::string f = "ok";
    if (i == 20 || i == 120) f = "killed";
    if (i == 40 || i == 140) f = "corrupt";
    lines.push_back({{"time", i * 2}, {"function", f}, {"payload", {{"n", i}}}});
  }
  env.write_workload(lines);
  Run run = env.run({"--mem", "64", "--runners", "3", "--deadline", "3000", "--runner_arg=--test_hook=stall_on_load:1"});
  INFO(run.stderr_text.substr(0, 6000));
  REQUIRE(run.exit_code == 0);
  REQUIRE(run.results.size() == 200);
  for (auto& r : run.results) {
    const std::string f = r["function"];
    if (f == "ok") {
      CHECK(r["status"] == "ok");
      CHECK(r["response"]["n"] == r["id"]);
    } else if (f == "killed") {
      CHECK(r["status"] == "error");
      CHECK(r["error"].get<std::string>().find("deadline exceeded") != std::string::npos);  // SIGKILLed mid-restore
    } else {
      CHECK(r["status"] == "error");
      CHECK(r["error"].get<std::string>().find("restore of corrupt failed in the runner") != std::string::npos);
    }
  }
  CHECK(run.stderr_text.find("firerunner: restore of function 2 (corrupt) failed") != std::string::npos);
  CHECK(run.stats["runner_failures"].get<int>() == 4);
  CHECK(shm_leftovers(run.pid).empty());

  // A jailed runner calling a syscall outside its seccomp allowlist dies with SIGSYS (31): its
  // request gets that error, the other function's requests are answered.
  lines.clear();
  for (int i = 0; i < 40; ++i) lines.push_back({{"time", i * 5}, {"function", i == 10 ? "sys" : "ok"}, {"payload", {{"n", i}}}});
  env.write_workload(lines);
  run = env.run({"--mem", "64", "--runners", "2", "--runner_arg=--test_hook=forbidden_syscall:3"});
  INFO(run.stderr_text.substr(0, 4000));
  REQUIRE(run.exit_code == 0);
  REQUIRE(run.results.size() == 40);
  for (auto& r : run.results) {
    if (r["function"] == "sys") {
      CHECK(r["status"] == "error");
      CHECK(r["error"].get<std::string>().find("killed by signal 31") != std::string::npos);
    } else {
      CHECK(r["status"] == "ok");
    }
  }
}

}  // namespace
