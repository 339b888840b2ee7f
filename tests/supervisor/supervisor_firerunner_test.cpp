// snapfaas-supervisor end to end with the real firerunner serving ring-3 echo guests through the
// ring window (jailed: own /dev/kvm node, uid 65534): 10^4 requests, eviction, a hostile guest,
// restored echo snapshots, restore faults.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <map>
#include <set>
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
      CHECK(r["error"]["type"] == "bad_response");
      CHECK(r["error"]["message"].get<std::string>().find("bad response") != std::string::npos);
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
  CHECK(run.results[0]["error"]["type"] == "timeout");
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
  // What KVM counted for each restored guest until its first response (RunnerTimes): a restored
  // guest touches its stack and data pages again, so KVM took page faults, each an exit.
  int counted = 0;
  for (const json& t : run.stats["request_timestamps"]) {
    if (!t["cold"].get<bool>() || t["page_faults"].get<std::int64_t>() < 0) continue;
    ++counted;
    CHECK(t["page_faults"].get<std::int64_t>() >= 1);
    CHECK(t["exits"].get<std::int64_t>() >= t["page_faults"].get<std::int64_t>());
  }
  MESSAGE("cold requests with KVM counts: " << counted << " of " << run.stats["cold"] << ", "
                                            << run.stats["cold_phases"].dump());
  CHECK(counted >= run.stats["cold"].get<int>() / 2);
  CHECK(run.stats["cold_phases"]["page_faults"]["counted"] == counted);
  CHECK(run.stats["cold_phases"]["page_faults"]["p50"].get<std::int64_t>() >= 1);
}

TEST_CASE("real firerunner, vcpus other than the snapshot's: refused with the reason, the same snapshot served at its count") {
  Env env;
  const fs::path snap = make_echo_snapshot(env.dir);  // taken with 1 vCPU
  env.write_config(restoring_function("one", snap) + restoring_function("two", snap) + "  vcpus: 2\n",
                   SNAPFAAS_FIRERUNNER_PATH);
  std::vector<json> lines;
  for (int i = 0; i < 4; ++i) lines.push_back({{"time", i * 50}, {"function", i % 2 == 0 ? "one" : "two"}, {"payload", {{"n", i}}}});
  env.write_workload(lines);
  Run run = env.run({"--mem", "64"});
  INFO(run.stderr_text);
  REQUIRE(run.exit_code == 0);
  REQUIRE(run.results.size() == 4);
  for (const json& r : run.results) {
    if (r["function"] == "one") {
      CHECK(r["status"] == "ok");
    } else {
      CHECK(r["status"] == "error");
      CHECK(r["error"]["type"] == "runner_failed");
    }
  }
  CHECK(run.stderr_text.find("the snapshot was taken with 1 vCPUs, this function's VM has 2") != std::string::npos);
  REQUIRE(run.stats["pools"].size() == 2);
  CHECK(run.stats["pools"][1]["vcpus"] == 2);
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
      CHECK(r["error"]["type"] == "timeout");  // SIGKILLed mid-restore
    } else {
      CHECK(r["status"] == "error");
      CHECK(r["error"]["type"] == "runner_failed");
      CHECK(r["error"]["message"].get<std::string>().find("restore of corrupt failed in the runner") != std::string::npos);
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
      CHECK(r["error"]["message"].get<std::string>().find("killed by signal 31") != std::string::npos);
    } else {
      CHECK(r["status"] == "ok");
    }
  }
}


TEST_CASE("real firerunner, hostile guests: invalid UTF-8, garbage, a forged error type, a stall, an exit; others served") {
  Env env;
  // One function per hostile case (each fails once: none is backed off); "stall" stops its
  // request after its own timeout_ms, a has the default.
  const std::map<int, std::pair<std::string, std::string>> hostile{
      {10, {"bad_utf8", "bad_response"}},   {20, {"garbage", "bad_response"}}, {30, {"forged_error", "bad_response"}},
      {40, {"stall", "timeout"}},           {50, {"exit", "runner_failed"}}};
  std::string fns = echo_functions({"a"});
  for (const auto& [i, h] : hostile) {
    fns += h.first + ":\n  kernel: " + SNAPFAAS_ECHO_GUEST_PATH + "\n  ring3: true\n  memory: 16\n" +
           (h.first == "stall" ? "  timeout_ms: 1500\n" : "");
  }
  env.write_config(fns, SNAPFAAS_FIRERUNNER_PATH);
  std::vector<json> lines;
  for (int i = 0; i < 120; ++i) {
    const auto h = hostile.find(i);
    lines.push_back({{"time", i * 10},
                     {"function", h != hostile.end() ? h->second.first : "a"},
                     {"payload", h != hostile.end() ? json{{h->second.first, 1}} : json{{"n", i}}}});
  }
  env.write_workload(lines);
  Run run = env.run({"--mem", "64", "--runners", "3"});
  INFO(run.stderr_text.substr(0, 4000));
  REQUIRE(run.exit_code == 0);
  REQUIRE(run.results.size() == 120);
  for (auto& r : run.results) {
    const auto h = hostile.find(r["id"].get<int>());
    if (h == hostile.end()) {
      CHECK(r["status"] == "ok");
      CHECK(r["response"]["n"] == r["id"]);
      continue;
    }
    INFO(h->second.first << ": " << r.dump());
    CHECK(r["status"] == "error");
    CHECK(r["error"]["type"] == h->second.second);
    CHECK(r["error"]["message"].is_string());
    if (h->second.second == "timeout") {
      CHECK(r["error"]["timeout_ms"] == 1500);
      CHECK(r["latency_ms"].get<double>() >= 1500);
      // Killed at its deadline, which counts from dispatch: the latency adds the cold start and
      // any wait for a runner (seconds on a loaded machine under ASan).
      CHECK(r["latency_ms"].get<double>() < 1500 + 5000);
    } else {
      CHECK(r["latency_ms"].get<double>() < 10'000);  // answered, not left to the 30 s default deadline
    }
  }
  CHECK(run.stats["runner_failures"].get<int>() == 5);  // each hostile VM discarded, never reused
  CHECK(run.stats["error_types"]["bad_response"] == 3);
  // Consoles: one log per runner slot, named in the stats; nothing of a guest reaches the results.
  REQUIRE(run.stats["consoles"].size() == 3);
  for (const auto& path : run.stats["consoles"]) CHECK(fs::exists(path.get<std::string>()));
  CHECK(shm_leftovers(run.pid).empty());
}

TEST_CASE("real firerunner, a request over the slot is refused before any cold start") {
  Env env;
  env.write_config(echo_functions({"a"}), SNAPFAAS_FIRERUNNER_PATH);
  env.write_workload({{{"time", 0}, {"function", "a"}, {"payload", {{"blob", std::string(70 * 1024, 'x')}}}},
                      {{"time", 5}, {"function", "nope"}, {"payload", {{"n", 1}}}}});
  Run run = env.run({"--mem", "64", "--runners", "1"});
  INFO(run.stderr_text.substr(0, 4000));
  REQUIRE(run.exit_code == 0);
  REQUIRE(run.results.size() == 2);
  CHECK(run.results[0]["error"]["type"] == "request_too_large");
  CHECK(run.results[0]["error"]["limit"] == 64 * 1024);
  CHECK(run.results[0]["error"]["size"].get<int>() > 70 * 1024);
  CHECK(run.results[1]["error"]["type"] == "unknown_function");
  CHECK(run.stats["vms_created"] == 0);  // no cold start was paid for either
}

TEST_CASE("real firerunner, a function failing on every cold start is backed off; the other is served") {
  Env env;
  const fs::path snap = make_echo_snapshot(env.dir);
  const fs::path bad = env.dir / "echo-corrupt";
  fs::copy(snap, bad, fs::copy_options::recursive);
  {
    std::fstream f(bad / "state", std::ios::in | std::ios::out | std::ios::binary);
    REQUIRE(f);
    f.seekp(100);
    f.write("\xde\xad\xbe\xef", 4);
  }
  for (const auto& e : fs::recursive_directory_iterator(bad)) {
    fs::permissions(e.path(), fs::perms::others_read, fs::perm_options::add);
  }
  env.write_config(restoring_function("ok", snap) + restoring_function("bad", bad), SNAPFAAS_FIRERUNNER_PATH);
  std::vector<json> lines;
  for (int i = 0; i < 100; ++i) {
    lines.push_back({{"time", i * 10}, {"function", i % 2 == 0 ? "ok" : "bad"}, {"payload", {{"n", i}}}});
  }
  env.write_workload(lines);
  Run run = env.run({"--mem", "64", "--runners", "2"});
  INFO(run.stderr_text.substr(0, 4000));
  REQUIRE(run.exit_code == 0);  // no global abort however often "bad" fails
  REQUIRE(run.results.size() == 100);
  int failed = 0, unhealthy = 0, unhealthy_without_restore = 0;
  for (auto& r : run.results) {
    if (r["function"] == "ok") {
      CHECK(r["status"] == "ok");
      continue;
    }
    CHECK(r["status"] == "error");
    if (r["error"]["type"] == "runner_failed") ++failed;
    if (r["error"]["type"] == "function_unhealthy") {
      ++unhealthy;
      CHECK(r["error"]["retry_after_ms"].get<int>() > 0);
      // Backed off: answered without a restore. service_ms (done - dispatch) is what a restore
      // attempt would take; latency_ms also holds the wait in the queue behind the failing cold
      // starts, which grows with the machine's load (23 of 50 under 100 ms at load 10, ASan).
      if (r["service_ms"].get<double>() < 100) ++unhealthy_without_restore;
    }
  }
  CHECK(failed + unhealthy == 50);
  CHECK(failed >= 3);        // tried until it proved unhealthy...
  CHECK(failed <= 3 + 2);    // ...then only one trial per back-off (1 s, then 2 s) in this 1 s run
  CHECK(unhealthy >= 40);
  CHECK(unhealthy_without_restore == unhealthy);
}

TEST_CASE("real firerunner, restored clones each get fresh entropy and the host clock (restore record)") {
  Env env;
  const fs::path snap = make_echo_snapshot(env.dir);
  env.write_config(restoring_function("e", snap, 4), SNAPFAAS_FIRERUNNER_PATH);
  std::vector<json> lines;
  for (int i = 0; i < 4; ++i) lines.push_back({{"time", 0}, {"function", "e"}, {"payload", {{"restore_record", 1}}}});
  env.write_workload(lines);
  const auto wall_before = std::chrono::system_clock::now();
  Run run = env.run({"--mem", "64", "--runners", "4"});
  const auto wall_after = std::chrono::system_clock::now();
  INFO(run.stderr_text.substr(0, 4000));
  REQUIRE(run.exit_code == 0);
  REQUIRE(run.results.size() == 4);
  std::set<std::string> nonces, entropies;
  for (auto& r : run.results) {
    INFO(r.dump());
    REQUIRE(r["status"] == "ok");
    CHECK(r["cold"] == true);
    const json& rec = r["response"];
    CHECK(rec["check"] == 0);  // RestoreRecordCheck::kOk
    CHECK(rec["generation"] == 1);
    const auto ns = [](auto t) { return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count(); };
    CHECK(rec["realtime_ns"].get<std::int64_t>() >= ns(wall_before));
    CHECK(rec["realtime_ns"].get<std::int64_t>() <= ns(wall_after));
    CHECK(rec["entropy"].get<std::string>().size() == 128);
    CHECK(rec["entropy"] != std::string(128, '0'));
    nonces.insert(rec["nonce"].get<std::string>());
    entropies.insert(rec["entropy"].get<std::string>());
  }
  CHECK(nonces.size() == 4);    // four clones of one snapshot, four different records
  CHECK(entropies.size() == 4);
}

}  // namespace
