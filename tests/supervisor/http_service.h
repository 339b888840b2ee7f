// A snapfaas-supervisor in service mode (--listen) for the HTTP tests: ring-3 echo functions served
// by the real firerunner (jailed, native on any KVM) — or, where a function must take its time,
// fake_runner's {"sleep_ms": N} — on a free port, started and waited for.
#pragma once

#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

#include "tests/supervisor/http_client.h"
#include "tests/supervisor/supervisor_env.h"

namespace http_test {

using supervisor_test::Env;
using supervisor_test::Run;
using supervisor_test::shm_leftovers;

/// Function file: ring-3 echo functions `names`, 16 MiB, `limit` VMs each.
inline std::string echo_functions(std::initializer_list<const char*> names, int limit = 2) {
  std::string fns;
  for (const char* n : names) {
    fns += std::string(n) + ":\n  kernel: " + SNAPFAAS_ECHO_GUEST_PATH + "\n  ring3: true\n  memory: 16\n  concurrency_limit: " +
           std::to_string(limit) + "\n";
  }
  return fns;
}

/// Function file for fake_runner (tests/supervisor/fake_runner.cpp: echoes, {"sleep_ms": N} answers
/// N ms late): functions `names`, 16 MiB, `limit` VMs each.
inline std::string fake_functions(std::initializer_list<const char*> names, int limit = 2) {
  std::string fns;
  for (const char* n : names) {
    fns += std::string(n) + ":\n  runtimefs: r\n  memory: 16\n  concurrency_limit: " + std::to_string(limit) + "\n";
  }
  return fns;
}

/// The supervisor serving HTTP on a free port of 127.0.0.1.
struct Service {
  Env env;
  std::uint16_t port = 0;
  pid_t pid = -1;

  /// Starts it with `extra` arguments (and replaying workload.jsonl when `replay`); waits for
  /// /healthz (REQUIREs it).
  void start(const std::string& functions_yaml, const std::vector<std::string>& extra, bool replay = false,
             const std::string& runner = SNAPFAAS_FIRERUNNER_PATH) {
    env.write_config(functions_yaml, runner);
    if (replay == false) env.write_workload({});
    port = free_port();
    std::vector<std::string> args{"--listen", "127.0.0.1:" + std::to_string(port), "--access_log",
                                  (env.dir / "access.log").string()};
    args.insert(args.end(), extra.begin(), extra.end());
    pid = env.start(args, replay);
    const bool up = wait_healthy(port, std::chrono::seconds(60));
    INFO(stderr_text());
    REQUIRE(up);
  }
  Service() = default;
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;
  /// A case that ended early (a failed REQUIRE) leaves its supervisor running: kill it, or it and
  /// its runners keep the test's output pipe open and ctest waits for its timeout. Only our own
  /// child, still running (stop() and the cases that kill it reap it).
  ~Service() {
    if (pid > 0 && ::waitpid(pid, nullptr, WNOHANG) == 0) {
      ::kill(pid, SIGKILL);
      (void)::waitpid(pid, nullptr, 0);
    }
  }
  /// SIGTERM and wait: the run's results, stats and stderr.
  Run stop() {
    ::kill(pid, SIGTERM);
    return env.finish(pid);
  }
  [[nodiscard]] std::string stderr_text() const { return read_file(env.dir / "stderr.txt"); }
  [[nodiscard]] std::string access_log() const { return read_file(env.dir / "access.log"); }
  [[nodiscard]] static std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  /// One GET /metrics on a fresh connection.
  [[nodiscard]] std::string metrics() const {
    Connection c(port);
    auto r = c.get("/metrics");
    REQUIRE(r);
    REQUIRE(r->status == 200);
    return r->body;
  }
  /// Open descriptors of the supervisor process.
  [[nodiscard]] std::size_t open_fds() const {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) ++n;
    return n;
  }
};

/// The value of one sample line `series` (name{labels} exactly) in exposition text; -1 if absent.
inline double metric(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 && line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return -1;
}

}  // namespace http_test
