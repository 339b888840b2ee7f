// snapfaas-supervisor end to end with fake_runner (jailed runners): a 10^4-request workload,
// warm/cold counts, eviction under a tight --mem, a runner dying mid-request, a function backed off
// while its requests are queued (answered at once), a deadline, a dropped
// request, the jail (host filesystem, private sealed channels, uid, hostname), SIGTERM cleanup (no
// /dev/shm leftovers), snapfaas-stat, ring-3 function arguments.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/supervisor/supervisor_env.h"

using namespace supervisor_test;

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
      CHECK(r["error"]["type"] == "runner_failed");
      CHECK(r["error"]["message"].get<std::string>().find("runner died") != std::string::npos);
    } else {
      CHECK(r["status"] == "ok");
    }
  }
  CHECK(run.stats["runner_failures"] == 1);
  CHECK(shm_leftovers(run.pid).empty());
}

TEST_CASE("a function backed off while its requests wait in the queue: they are answered at once, not after a runner frees up") {
  // Three runners: two held 8 s by "slow"; "bad" kills its runner on every request (3 failures in a
  // row back it off). "other" (queued after bad's first three, before the rest) takes the third
  // runner once bad's VMs are gone, for 8 s: bad's queued requests must not wait for it.
  Env env;
  env.write_config("slow:\n  runtimefs: r\n  memory: 64\n  concurrency_limit: 2\n"
                   "bad:\n  runtimefs: r\n  memory: 64\n"
                   "other:\n  runtimefs: r\n  memory: 64\n");
  std::vector<json> lines;
  for (int i = 0; i < 2; ++i) lines.push_back({{"time", 0}, {"function", "slow"}, {"payload", {{"sleep_ms", 8000}}}});
  for (int i = 0; i < 3; ++i) lines.push_back({{"time", 50}, {"function", "bad"}, {"payload", {{"die", true}}}});
  lines.push_back({{"time", 50}, {"function", "other"}, {"payload", {{"sleep_ms", 8000}}}});
  for (int i = 0; i < 5; ++i) lines.push_back({{"time", 50}, {"function", "bad"}, {"payload", {{"die", true}}}});
  env.write_workload(lines);
  Run run = env.run({"--mem", "192", "--runners", "3"});
  INFO(run.stderr_text.substr(0, 4000));
  REQUIRE(run.exit_code == 0);
  REQUIRE(run.results.size() == 11);
  int failed = 0, unhealthy = 0;
  for (auto& r : run.results) {
    if (r["function"] != "bad") {
      CHECK(r["status"] == "ok");
      continue;
    }
    INFO(r.dump());
    if (r["error"]["type"] == "runner_failed") ++failed;
    if (r["error"]["type"] == "function_unhealthy") {
      ++unhealthy;
      CHECK(r["latency_ms"].get<double>() < 4000);  // not behind other's or slow's 8 s
    }
  }
  CHECK(failed == 3);
  CHECK(unhealthy == 5);
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
  CHECK(run.results[0]["error"]["type"] == "timeout");
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
    if (r["status"] == "dropped") CHECK(r["error"]["type"] == "no_capacity");
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
    CHECK(r["response"]["uid"] == 100000 + r["runner"].get<int>());  // one uid per runner (uid_base + slot)
    CHECK(r["response"]["pid"] == 1);  // pid 1 of its own pid namespace
  }
}

TEST_CASE("jail: a runner sees the snapshots and images of the functions it may serve, not whole directories") {
  Env env;
  for (const char* d : {"snaps/a", "snaps/other-tenant", "apps"}) fs::create_directories(env.dir / d);
  std::ofstream(env.dir / "snaps/a/state") << "x";
  std::ofstream(env.dir / "snaps/other-tenant/state") << "x";
  std::ofstream(env.dir / "apps/a.ext2") << "x";
  std::ofstream(env.dir / "apps/other-tenant.ext2") << "x";
  std::ofstream(env.dir / "functions.yaml") << "a:\n  runtimefs: r\n  appfs: a.ext2\n  memory: 64\n  load_dir: a\n";
  std::ofstream(env.dir / "controller.yaml") << "kernel_path: vmlinux\nfunction_config: functions.yaml\n"
                                             << "snapshot_dir: snaps\nappfs_dir: apps\n"
                                             << "firerunner_path: " << SNAPFAAS_FAKE_RUNNER_PATH << "\n";
  std::vector<json> lines;
  for (const char* p : {"snaps/a/state", "apps/a.ext2", "snaps/other-tenant/state", "apps/other-tenant.ext2"}) {
    lines.push_back({{"time", 0}, {"function", "a"}, {"payload", {{"probe", (env.dir / p).string()}}}});
  }
  env.write_workload(lines);
  Run run = env.run({"--mem", "64", "--runners", "1"});
  INFO(run.stderr_text);
  REQUIRE(run.exit_code == 0);
  REQUIRE(run.results.size() == 4);
  CHECK(run.results[0]["response"]["exists"] == true);   // its own snapshot
  CHECK(run.results[1]["response"]["exists"] == true);   // its own app image
  CHECK(run.results[2]["response"]["exists"] == false);  // the snapshot directory is not mounted whole
  CHECK(run.results[3]["response"]["exists"] == false);  // nor the app directory
}

TEST_CASE("jail: a runner's channel is its own — no name in /dev/shm, mode 0600, its owner's, a size fixed for good") {
  Env env;
  env.write_config("a:\n  runtimefs: r\n  memory: 64\nb:\n  runtimefs: r\n  memory: 64\n");
  env.write_workload({{{"time", 0}, {"function", "a"}, {"payload", {{"list", "/dev/shm"}}}},
                      {{"time", 0}, {"function", "b"}, {"payload", {{"list", "/dev/shm"}}}},
                      {{"time", 5}, {"function", "a"}, {"payload", {{"channel", true}}}},
                      {{"time", 5}, {"function", "b"}, {"payload", {{"channel", true}}}},
                      {{"time", 3000}, {"function", "a"}, {"payload", {{"n", 1}}}}});  // keeps it running
  const pid_t pid = env.start({"--mem", "128", "--runners", "2"});
  // While the supervisor runs, no channel object has a name anyone could open: once its stats
  // block is there (its runners are spawned after it), that is the one name it holds.
  std::vector<std::string> named;
  for (const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
       std::chrono::steady_clock::now() < until; std::this_thread::sleep_for(std::chrono::milliseconds(20))) {
    named = shm_leftovers(pid);
    if (!named.empty()) break;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // runners spawned meanwhile
  named = shm_leftovers(pid);
  REQUIRE(named.size() == 1);
  CHECK(named[0].find("-stats") != std::string::npos);
  Run run = env.finish(pid);
  INFO(run.stderr_text);
  REQUIRE(run.exit_code == 0);
  REQUIRE(run.results.size() == 5);
  for (int i = 0; i < 2; ++i) CHECK(run.results[i]["response"]["entries"].empty());
  for (int i = 2; i < 4; ++i) {
    const json c = run.results[i]["response"]["channel"];
    CHECK(c["mode"] == 0600);
    CHECK(c["uid"] == run.results[i]["response"]["uid"]);  // its runner's uid
    CHECK(c["size"].get<long>() > 4096);
    CHECK(c["truncate_errno"] == EPERM);  // sealed against shrinking
  }
}

TEST_CASE("a runner truncating its channel cannot make the supervisor die of SIGBUS") {
  // fake_runner --truncate_channel shrinks its channel to 0 bytes before serving. With a named,
  // unsealed object the supervisor's next write into a slot faulted (SIGBUS, exit 135); the
  // sealed memfd refuses the shrink, and every request is answered.
  Env env;
  env.write_config("f:\n  runtimefs: r\n  memory: 64\n  concurrency_limit: 2\n");
  std::vector<json> lines;
  for (int i = 0; i < 50; ++i) lines.push_back({{"time", i}, {"function", "f"}, {"payload", {{"i", i}}}});
  env.write_workload(lines);
  Run run = env.run({"--mem", "128", "--runners", "2", "--runner_arg=--truncate_channel"});
  INFO(run.stderr_text.substr(0, 3000));
  CHECK(run.stderr_text.find("ftruncate(channel, 0): Operation not permitted") != std::string::npos);
  REQUIRE(run.exit_code == 0);
  REQUIRE(run.results.size() == 50);
  for (auto& r : run.results) CHECK(r["status"] == "ok");
}

TEST_CASE("SIGTERM: drains, writes stats, kills runners, leaves nothing in /dev/shm") {
  Env env;
  env.write_config("f:\n  runtimefs: r\n  memory: 64\n  concurrency_limit: 2\n");
  std::vector<json> lines;
  for (int i = 0; i < 2000; ++i) lines.push_back({{"time", i * 5}, {"function", "f"}, {"payload", {{"i", i}}}});
  env.write_workload(lines);  // 10 s of work: interrupted after ~0.7 s
  const pid_t pid = env.start({"--mem", "256", "--runners", "3"});
  // Wait until its runners exist, then interrupt.
  for (int i = 0; i < 300 && children_of(pid).size() < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  CHECK(shm_leftovers(pid).size() == 1);  // the stats block (channels are sealed memfds, no name)
  const std::vector<pid_t> children = children_of(pid);
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

TEST_CASE("ring-3 functions: runners get the function's guest with --ring3 and the function's own VM size") {
  Env env;
  std::ofstream(env.dir / "guest.elf") << "elf";
  env.write_config("a:\n  kernel: guest.elf\n  ring3: true\n  memory: 16\nb:\n  kernel: guest.elf\n  ring3: true\n  memory: 32\n");
  env.write_workload({{{"time", 0}, {"function", "a"}, {"payload", {{"i", 0}}}},
                      {{"time", 1}, {"function", "b"}, {"payload", {{"i", 1}}}}});
  Run run = env.run({"--mem", "64", "--runners", "1"});
  INFO(run.stderr_text);
  REQUIRE(run.exit_code == 0);
  REQUIRE(run.results.size() == 2);
  for (const json& r : run.results) {
    CHECK(r["response"]["kernel"] == (env.dir / "guest.elf").string());
    CHECK(r["response"]["ring3"] == true);
    CHECK(r["response"]["functions_table"] == false);  // no snapshots: the guest boots at spawn
    CHECK(r["response"]["mem_size"] == (r["function"] == "a" ? 16 : 32));
  }
  CHECK(run.stats["runners"] == 2);  // --runners 1, but each shape needs one
}

TEST_CASE("VM shapes: each function runs on a runner of its memory, vCPUs and runtime image, in pools sized from --mem") {
  Env env;
  env.write_config(
      "py:\n  runtimefs: rootfs.ext4\n  appfs: py.ext2\n  memory: 128\n  concurrency_limit: 8\n"
      "py2:\n  runtimefs: rootfs.ext4\n  appfs: py2.ext2\n  memory: 128\n  vcpus: 2\n  concurrency_limit: 8\n"
      "js:\n  runtimefs: nodejs.ext4\n  appfs: js.ext2\n  memory: 256\n  concurrency_limit: 8\n");
  for (const char* image : {"py.ext2", "py2.ext2", "js.ext2"}) std::ofstream(env.dir / image) << "image";
  // The controller's appfs_dir: the jail of a runner holds its own pool's app images only.
  std::ofstream(env.dir / "controller.yaml", std::ios::app) << "appfs_dir: .\nruntimefs_dir: /images\n";
  std::vector<json> lines;
  for (int i = 0; i < 60; ++i) {
    const char* f = i % 3 == 0 ? "py" : i % 3 == 1 ? "py2" : "js";
    json payload = {{"i", i}};
    if (i < 3) payload = {{"probe", (env.dir / (i == 2 ? "py.ext2" : "js.ext2")).string()}};  // another pool's image
    lines.push_back({{"time", i * 5}, {"function", f}, {"payload", payload}});
  }
  env.write_workload(lines);
  Run run = env.run({"--mem", "2048"});
  INFO(run.stderr_text);
  REQUIRE(run.exit_code == 0);
  REQUIRE(run.results.size() == 60);
  for (const json& r : run.results) {
    REQUIRE(r["status"] == "ok");
    if (r["response"].contains("exists")) {
      CHECK(r["response"]["exists"] == false);
      continue;
    }
    const std::string f = r["function"];
    CHECK(r["response"]["mem_size"] == (f == "js" ? 256 : 128));
    CHECK(r["response"]["vcpu_count"] == (f == "py2" ? 2 : 1));
    CHECK(r["response"]["rootfs"] == (f == "js" ? "/images/nodejs.ext4" : "/images/rootfs.ext4"));
    CHECK(r["response"]["functions_table"] == true);  // Linux runners wait for kBoot/kRestore
  }
  // Equal requests: weights 128 : 128 : 256 of 2048 MiB -> 4 + 4 runners of 128 MiB, 4 of 256 MiB.
  CHECK(run.stats["runners"] == 12);
  REQUIRE(run.stats["pools"].size() == 3);
  CHECK(run.stats["pools"][1] == json{{"memory", 128}, {"vcpus", 2}, {"runtimefs", "rootfs.ext4"}, {"runners", 4},
                                      {"functions", {"py2"}}, {"from_config", false}});
  CHECK(run.stats["pools"][2]["runners"] == 4);
}
