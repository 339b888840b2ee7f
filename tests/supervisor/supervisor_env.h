// Runs snapfaas-supervisor as a child process over a scratch directory (controller and function
// YAML, workload, results, stats) for the supervisor integration tests: supervisor_fake_test.cpp
// (fake_runner) and supervisor_firerunner_test.cpp (the real firerunner with ring-3 echo guests).
#pragma once

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


namespace supervisor_test {

namespace fs = std::filesystem;
using nlohmann::json;


struct Run {
  int exit_code = -1;
  std::vector<json> results;
  json stats;
  std::string stderr_text;
  pid_t pid = -1;
};

struct Env {
  fs::path dir;
  std::string supervisor = SNAPFAAS_SUPERVISOR_PATH;  ///< the binary start() runs
  fs::path controller;                                ///< its --config (default dir/controller.yaml)
  Env() {
    dir = fs::temp_directory_path() / ("snapfaas-sup-test-" + std::to_string(::getpid()) + "-" +
                                       std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    fs::create_directories(dir);
    std::ofstream(dir / "vmlinux") << "not a kernel";
    controller = dir / "controller.yaml";
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
  /// Starts the supervisor with `extra` arguments; with `replay` it replays workload.jsonl.
  pid_t start(const std::vector<std::string>& extra, bool replay = true) const {
    std::vector<std::string> args{supervisor,
                                  "--config",        controller.string(),
                                  "--output",        (dir / "results.jsonl").string(),
                                  "--stats",         (dir / "stats.json").string(),
                                  "--console_dir",   (dir / "consoles").string(),
                                  "--log-level",     "warn"};
    if (replay) args.insert(args.end(), {"--requests_file", (dir / "workload.jsonl").string()});
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

inline std::vector<std::string> shm_leftovers(pid_t pid) {
  std::vector<std::string> left;
  const std::string prefix = "snapfaas-" + std::to_string(pid) + "-";
  for (const auto& e : fs::directory_iterator("/dev/shm")) {
    if (e.path().filename().string().rfind(prefix, 0) == 0) left.push_back(e.path().string());
  }
  return left;
}

/// The value of `key` ("Cpus_allowed_list", "voluntary_ctxt_switches", ...) in a /proc status file
/// (/proc/PID/status or /proc/PID/task/TID/status), leading blanks trimmed; "" when absent.
inline std::string proc_status_field(const fs::path& status_file, const std::string& key) {
  std::ifstream in(status_file);
  const std::string prefix = key + ":";
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) != 0) continue;
    const std::size_t start = line.find_first_not_of(" \t", prefix.size());
    return start == std::string::npos ? "" : line.substr(start);
  }
  return "";
}

/// The pids of `parent`'s children (a /proc scan; a command name may hold spaces or parentheses).
inline std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> children;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(e.path() / "stat");
    std::string stat;
    std::getline(in, stat);
    const auto close = stat.rfind(')');
    if (close == std::string::npos || close + 2 >= stat.size()) continue;
    std::istringstream rest(stat.substr(close + 2));  // "S PPID ..."
    char state = 0;
    pid_t ppid = 0;
    if (rest >> state >> ppid && ppid == parent) children.push_back(std::stoi(name));
  }
  return children;
}

inline std::map<std::string, int> count_by(const std::vector<json>& results, const std::string& key) {
  std::map<std::string, int> counts;
  for (const auto& r : results) counts[r[key].dump()]++;
  return counts;
}

}  // namespace supervisor_test
