// snapfaas-supervisor end to end (jailed runners): with fake_runner (test_supervisor_fake) or, built
// with SNAPFAAS_FIRERUNNER_PATH, the real firerunner serving ring-3 echo guests (test_supervisor_firerunner).
// Fake-runner cases: a 10^4-request
// workload, warm/cold counts, eviction under a tight --mem, a runner dying mid-request, a deadline,
// a dropped request, the jail (host filesystem, other runners' shm, uid, hostname) and SIGTERM
// cleanup (no /dev/shm leftovers).
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#ifdef SNAPFAAS_FIRERUNNER_PATH
#include "ipc/channel.h"
#endif

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Run {
  int exit_code = -1;
  std::vector<json> results;
  json stats;
  std::string stderr_text;
  pid_t pid = -1;
};

struct Env {
  fs::path dir;
  Env() {
    dir = fs::temp_directory_path() / ("snapfaas-sup-test-" + std::to_string(::getpid()) + "-" +
                                       std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    fs::create_directories(dir);
    std::ofstream(dir / "vmlinux") << "not a kernel";
  }
  ~Env() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  void write_config(const std::string& functions_yaml, const std::string& runner = SNAPFAAS_FAKE_RUNNER_PATH) const {
    std::ofstream(dir / "functions.yaml") << functions_yaml;
    std::ofstream(dir / "controller.yaml") << "kernel_path: vmlinux\nfunction_config: functions.yaml\n"
                                           << "firerunner_path: " << runner << "\n";
  }
  void write_workload(const std::vector<json>& lines) const {
    std::ofstream out(dir / "workload.jsonl");
    for (const auto& l : lines) out << l.dump() << '\n';
  }
  pid_t start(const std::vector<std::string>& extra) const {
    std::vector<std::string> args{SNAPFAAS_SUPERVISOR_PATH,
                                  "--config",        (dir / "controller.yaml").string(),
                                  "--requests_file", (dir / "workload.jsonl").string(),
                                  "--output",        (dir / "results.jsonl").string(),
                                  "--stats",         (dir / "stats.json").string(),
                                  "--log-level",     "warn"};
    args.insert(args.end(), extra.begin(), extra.end());
    const pid_t pid = ::fork();
    if (pid == 0) {
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      const std::string err = (dir / "stderr.txt").string();
      if (!std::freopen(err.c_str(), "w", stderr)) _exit(126);
      ::execv(argv[0], argv.data());
      _exit(127);
    }
    return pid;
  }
  Run finish(pid_t pid) const {
    Run run;
    run.pid = pid;
    int status = 0;
    ::waitpid(pid, &status, 0);
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::ifstream results(dir / "results.jsonl");
    for (std::string line; std::getline(results, line);) run.results.push_back(json::parse(line));
    // Results are indexed below with non-const operator[]: a missing key reads as null and fails
    // its CHECK (const operator[] on a missing key is undefined behaviour in nlohmann::json).
    // Lines come in completion order; tests index them by request id.
    std::sort(run.results.begin(), run.results.end(),
              [](const json& a, const json& b) { return a.value("id", -1) < b.value("id", -1); });
    std::ifstream stats(dir / "stats.json");
    if (stats) run.stats = json::parse(stats, nullptr, false);
    std::ifstream err(dir / "stderr.txt");
    std::stringstream text;
    text << err.rdbuf();
    run.stderr_text = text.str();
    return run;
  }
  Run run(const std::vector<std::string>& extra) const { return finish(start(extra)); }
};

std::vector<std::string> shm_leftovers(pid_t pid) {
  std::vector<std::string> left;
  const std::string prefix = "snapfaas-" + std::to_string(pid) + "-";
  for (const auto& e : fs::directory_iterator("/dev/shm")) {
    if (e.path().filename().string().rfind(prefix, 0) == 0) left.push_back(e.path().string());
  }
  return left;
}

[[maybe_unused]] std::map<std::string, int> count_by(const std::vector<json>& results, const std::string& key) {
  std::map<std::string, int> counts;
  for (const auto& r : results) counts[r[key].dump()]++;
  return counts;
}

}  // namespace

#ifndef SNAPFAAS_FIRERUNNER_PATH  // fake-runner tests (test_supervisor_fake)
TEST_CASE("10^4 requests over two functions: all answered, warm/cold as expected") {
  Env env;
  env.write_config("a:\n  runtimefs: r\n  memory: 64\n  concurrency_limit: 2\n"
                   "b:\n  runtimefs: r\n  memory: 64\n  concurrency_limit: 2\n");
  std::vector<json> lines;
  for (int i = 0; i < 10'000; ++i) {
    lines.push_back({{"time", i / 5}, {"user_id", i % 7}, {"function", i % 3 == 0 ? "b" : "a"}, {"payload", {{"n", i}}}});
  }
  env.write_workload(lines);
  Run run = env.run({"--mem", "1024", "--runners", "4", "--queue", "20000"});
  INFO(run.stderr_text);
  REQUIRE(run.exit_code == 0);
  REQUIRE(run.results.size() == 10'000);
  int cold = 0;
  for (auto& r : run.results) {
    REQUIRE(r["status"] == "ok");
    const int id = r["id"].get<int>();
    CHECK(r["response"]["result"]["n"] == id);  // each response belongs to its own request
    CHECK(r["response"]["function"] == (r["function"] == "a" ? 0 : 1));
    cold += r["cold"].get<bool>() ? 1 : 0;
  }
  // Four runners, two VMs per function at most, no eviction: at most four cold starts, at least two.
  CHECK(cold >= 2);
  CHECK(cold <= 4);
  CHECK(run.stats["cold"] == cold);
  CHECK(run.stats["warm"] == 10'000 - cold);
  CHECK(run.stats["evictions"] == 0);
  CHECK(run.stats["requests_completed"] == 10'000);
  CHECK(run.stats["request_timestamps"].size() == 10'000);
  CHECK(run.stats["vms_created"] == cold);
  CHECK(shm_leftovers(run.pid).empty());
}

TEST_CASE("tight --mem: idle VMs are evicted LRU and everything is still answered") {
  Env env;
  env.write_config("a:\n  runtimefs: r\n  memory: 128\nb:\n  runtimefs: r\n  memory: 128\nc:\n  runtimefs: r\n  memory: 128\n");
  std::vector<json> lines;
  const char* names[] = {"a", "b", "c"};
  for (int i = 0; i < 60; ++i) lines.push_back({{"time", i * 30}, {"function", names[i % 3]}, {"payload", {{"i", i}}}});
  env.write_workload(lines);
  Run run = env.run({"--mem", "256", "--runners", "3"});
  INFO(run.stderr_text);
  REQUIRE(run.exit_code == 0);
  REQUIRE(run.results.size() == 60);
  for (auto& r : run.results) CHECK(r["status"] == "ok");
  // Round-robin over three functions with room for two VMs: most requests find their function
  // evicted (cold), and every VM beyond the two that fit was made room for by an eviction.
  const int cold = run.stats["cold"].get<int>();
  const int evictions = run.stats["evictions"].get<int>();
  CHECK(cold + run.stats["warm"].get<int>() == 60);
  CHECK(cold >= 20);
  CHECK(evictions >= 10);
  CHECK(cold - evictions <= 2);  // VMs alive at the end never exceed the budget
  CHECK(cold - evictions >= 1);
  for (const auto& m : run.stats["vm_memory_mib"]) CHECK(m == 128);
}

TEST_CASE("a runner that dies mid-request: that request errors, the runner is replaced, nothing else lost") {
  Env env;
  env.write_config("f:\n  runtimefs: r\n  memory: 64\n  concurrency_limit: 2\n");
  std::vector<json> lines;
  for (int i = 0; i < 200; ++i) {
    lines.push_back({{"time", i}, {"function", "f"}, {"payload", i == 100 ? json{{"die", true}} : json{{"i", i}}}});
  }
  env.write_workload(lines);
  Run run = env.run({"--mem", "256", "--runners", "2"});
  INFO(run.stderr_text);
  REQUIRE(run.exit_code == 0);
  REQUIRE(run.results.size() == 200);
  for (auto& r : run.results) {
    if (r["id"] == 100) {
      CHECK(r["status"] == "error");
      CHECK(r["error"].get<std::string>().find("runner died") != std::string::npos);
    } else {
      CHECK(r["status"] == "ok");
    }
  }
  CHECK(run.stats["runner_failures"] == 1);
  CHECK(shm_leftovers(run.pid).empty());
}

TEST_CASE("a request past its deadline: error result, VM discarded, the rest served") {
  Env env;
  env.write_config("f:\n  runtimefs: r\n  memory: 64\n");
  env.write_workload({{{"time", 0}, {"function", "f"}, {"payload", {{"sleep_ms", 5000}}}},
                      {{"time", 1}, {"function", "f"}, {"payload", {{"i", 1}}}},
                      {{"time", 2}, {"function", "f"}, {"payload", {{"i", 2}}}}});
  Run run = env.run({"--mem", "64", "--runners", "1", "--deadline", "300"});
  INFO(run.stderr_text);
  REQUIRE(run.exit_code == 0);
  REQUIRE(run.results.size() == 3);
  CHECK(run.results[0]["status"] == "error");
  CHECK(run.results[0]["error"].get<std::string>().find("deadline exceeded") != std::string::npos);
  CHECK(run.results[0]["latency_ms"].get<double>() < 3000);
  CHECK(run.results[1]["status"] == "ok");
  CHECK(run.results[2]["status"] == "ok");
  CHECK(run.results[1]["cold"] == true);  // the VM of request 0 was discarded
}

TEST_CASE("bounded queue: past it a request is dropped with 'no capacity'") {
  Env env;
  env.write_config("f:\n  runtimefs: r\n  memory: 64\n");
  env.write_workload({{{"time", 0}, {"function", "f"}, {"payload", {{"sleep_ms", 300}}}},
                      {{"time", 10}, {"function", "f"}, {"payload", {{"i", 1}}}},
                      {{"time", 20}, {"function", "f"}, {"payload", {{"i", 2}}}}});
  Run run = env.run({"--mem", "64", "--runners", "1", "--queue", "1"});
  INFO(run.stderr_text);
  REQUIRE(run.exit_code == 0);
  REQUIRE(run.results.size() == 3);
  const auto status = count_by(run.results, "status");
  CHECK(status.at("\"ok\"") == 2);
  CHECK(status.at("\"dropped\"") == 1);
  for (auto& r : run.results) {
    if (r["status"] == "dropped") CHECK(r["error"] == "dropped: no capacity");
  }
  CHECK(run.stats["requests_dropped"] == 1);
}

TEST_CASE("jail: runners see neither the host filesystem nor another runner's shm, run unprivileged") {
  Env env;
  env.write_config("a:\n  runtimefs: r\n  memory: 64\nb:\n  runtimefs: r\n  memory: 64\n");
  // While both runners are alive, each probes for the host's files and for the other's channel.
  // Names are only known after start, so probe the pattern of runner 0/1 generation 1 by pid later.
  env.write_workload({{{"time", 0}, {"function", "a"}, {"payload", {{"probe", "/etc/passwd"}}}},
                      {{"time", 0}, {"function", "b"}, {"payload", {{"probe", (env.dir / "functions.yaml").string()}}}},
                      {{"time", 5}, {"function", "a"}, {"payload", {{"hostname", true}}}},
                      {{"time", 5}, {"function", "b"}, {"payload", {{"probe", "/proc/1/exe"}}}}});
  const pid_t pid = env.start({"--mem", "128", "--runners", "2"});
  Run run = env.finish(pid);
  INFO(run.stderr_text);
  REQUIRE(run.exit_code == 0);
  REQUIRE(run.results.size() == 4);
  CHECK(run.results[0]["response"]["exists"] == false);
  CHECK(run.results[1]["response"]["exists"] == false);
  CHECK(run.results[2]["response"]["hostname"].get<std::string>().rfind("runner-", 0) == 0);
  CHECK(run.results[3]["response"]["exists"] == true);  // its own /proc (pid namespace): sanity of the probe
  for (auto& r : run.results) {
    CHECK(r["response"]["uid"] == 65534);
    CHECK(r["response"]["pid"] == 1);  // pid 1 of its own pid namespace
  }
}

TEST_CASE("jail: each runner's /dev/shm holds only its own channel object") {
  Env env;
  env.write_config("a:\n  runtimefs: r\n  memory: 64\nb:\n  runtimefs: r\n  memory: 64\n");
  env.write_workload({{{"time", 0}, {"function", "a"}, {"payload", {{"list", "/dev/shm"}}}},
                      {{"time", 0}, {"function", "b"}, {"payload", {{"list", "/dev/shm"}}}}});
  Run run = env.run({"--mem", "128", "--runners", "2"});
  INFO(run.stderr_text);
  REQUIRE(run.exit_code == 0);
  REQUIRE(run.results.size() == 2);
  for (auto& r : run.results) {
    const json entries = r["response"]["entries"];
    REQUIRE(entries.size() == 1);
    const std::string own = "snapfaas-" + std::to_string(run.pid) + "-r" + std::to_string(r["runner"].get<int>()) + "-g";
    CHECK(entries[0].get<std::string>().rfind(own, 0) == 0);
  }
}

TEST_CASE("SIGTERM: drains, writes stats, kills runners, leaves nothing in /dev/shm") {
  Env env;
  env.write_config("f:\n  runtimefs: r\n  memory: 64\n  concurrency_limit: 2\n");
  std::vector<json> lines;
  for (int i = 0; i < 2000; ++i) lines.push_back({{"time", i * 5}, {"function", "f"}, {"payload", {{"i", i}}}});
  env.write_workload(lines);  // 10 s of work: interrupted after ~0.7 s
  const pid_t pid = env.start({"--mem", "256", "--runners", "3"});
  // Wait until its runners exist (their channel objects appear), then interrupt.
  for (int i = 0; i < 200 && shm_leftovers(pid).size() < 4; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(shm_leftovers(pid).size() == 4);  // 3 channels + the stats block
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  std::vector<pid_t> children;
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::ifstream stat(e.path() / "stat");
    std::string comm, state;
    int self = 0, ppid = 0;
    if (stat >> self >> comm >> state >> ppid && ppid == pid) children.push_back(self);
  }
  CHECK(children.size() == 3);
  ::kill(pid, SIGTERM);
  Run run = env.finish(pid);
  INFO(run.stderr_text);
  CHECK(run.exit_code == 0);
  CHECK(run.stats["interrupted"] == true);
  CHECK(run.stats["not_submitted"].get<int>() > 0);
  CHECK(run.stats["completed"].get<int>() > 0);
  CHECK(run.stats["completed"].get<int>() + run.stats["not_submitted"].get<int>() == 2000);
  CHECK(shm_leftovers(pid).empty());
  for (pid_t child : children) CHECK(::kill(child, 0) != 0);  // runners are gone (reaped)
}

TEST_CASE("snapfaas-stat --json shows the live runners while the supervisor runs") {
  Env env;
  env.write_config("f:\n  runtimefs: r\n  memory: 64\n");
  std::vector<json> lines;
  for (int i = 0; i < 300; ++i) lines.push_back({{"time", i * 10}, {"function", "f"}, {"payload", {{"i", i}}}});
  env.write_workload(lines);
  const pid_t pid = env.start({"--mem", "128", "--runners", "2"});
  const std::string name = "/snapfaas-" + std::to_string(pid) + "-stats";
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const std::string out_path = (env.dir / "stat.json").string();
  const std::string command = std::string(SNAPFAAS_STAT_PATH) + " --json --name " + name + " > " + out_path;
  const int rc = std::system(command.c_str());
  Run run = env.finish(pid);
  REQUIRE(rc == 0);
  std::ifstream in(out_path);
  const json snap = json::parse(in);
  REQUIRE(snap["runners"].size() == 2);
  std::uint64_t requests = 0;
  for (const auto& r : snap["runners"]) requests += r["requests"].get<std::uint64_t>();
  CHECK(requests > 20);       // ~150 answered by then
  CHECK(requests < 300);
  bool serving_f = false;
  for (const auto& r : snap["runners"]) serving_f |= r["function"] == "f" && r["cold"] == 1;
  CHECK(serving_f);
  CHECK(run.exit_code == 0);
}

TEST_CASE("ring-3 functions: runners get the function's guest with --ring3 and the largest VM size") {
  Env env;
  std::ofstream(env.dir / "guest.elf") << "elf";
  env.write_config("a:\n  kernel: guest.elf\n  ring3: true\n  memory: 16\nb:\n  kernel: guest.elf\n  ring3: true\n  memory: 32\n");
  env.write_workload({{{"time", 0}, {"function", "a"}, {"payload", {{"i", 0}}}}});
  Run run = env.run({"--mem", "64", "--runners", "1"});
  INFO(run.stderr_text);
  REQUIRE(run.exit_code == 0);
  REQUIRE(run.results.size() == 1);
  CHECK(run.results[0]["response"]["kernel"] == (env.dir / "guest.elf").string());
  CHECK(run.results[0]["response"]["ring3"] == true);
  CHECK(run.results[0]["response"]["mem_size"] == 32);
}

#else  // real-runner tests (test_supervisor_firerunner)
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
                   SNAPFAAS_FIRERUNNER_PATH);
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
#endif
