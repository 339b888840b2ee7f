// snapfaas-stat: attaches read-only to a supervisor's stats block and shows each runner's state,
// function, counters and latency percentiles, refreshing like top; --json prints one snapshot.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

#include "ipc/stats_block.h"

namespace ipc = snapfaas::ipc;

namespace {

const char* state_name(ipc::RunnerState s) {
  switch (s) {
    case ipc::RunnerState::kEmpty: return "empty";
    case ipc::RunnerState::kStarting: return "starting";
    case ipc::RunnerState::kIdle: return "idle";
    case ipc::RunnerState::kBusy: return "busy";
    case ipc::RunnerState::kLoading: return "loading";
    case ipc::RunnerState::kStopped: return "stopped";
    case ipc::RunnerState::kFailed: return "failed";
  }
  return "?";
}

// Upper bound (µs) of the bucket holding the p-th percentile of a log2 histogram.
double percentile_us(const std::array<std::uint64_t, ipc::kLatencyBuckets>& h, double p) {
  std::uint64_t total = 0;
  for (auto c : h) total += c;
  if (total == 0) return 0;
  const double target = p / 100.0 * static_cast<double>(total);
  std::uint64_t seen = 0;
  for (std::size_t b = 0; b < h.size(); ++b) {
    seen += h[b];
    if (static_cast<double>(seen) >= target) return static_cast<double>(1ULL << (b + 1));
  }
  return static_cast<double>(1ULL << h.size());
}

// The newest /dev/shm/snapfaas-<pid>-stats.
std::string find_block() {
  std::string best;
  std::filesystem::file_time_type newest{};
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/dev/shm", ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("snapfaas-", 0) != 0 || name.size() < 6 || name.substr(name.size() - 6) != "-stats") continue;
    const auto t = e.last_write_time(ec);
    if (best.empty() || t > newest) {
      best = "/" + name;
      newest = t;
    }
  }
  return best;
}

nlohmann::json snapshot_json(const ipc::StatsReader& reader) {
  nlohmann::json runners = nlohmann::json::array();
  for (std::uint32_t i = 0; i < reader.runner_count(); ++i) {
    auto s = reader.snapshot(i);
    if (!s) continue;
    runners.push_back({{"runner", i},
                       {"state", state_name(s->state)},
                       {"function", std::string(s->function_name())},
                       {"requests", s->requests},
                       {"cold", s->cold},
                       {"warm", s->warm},
                       {"errors", s->errors},
                       {"p50_us", percentile_us(s->latency_us_log2, 50)},
                       {"p99_us", percentile_us(s->latency_us_log2, 99)},
                       {"console", reader.console_dir().empty()
                                       ? std::string{}
                                       : reader.console_dir() + "/runner-" + std::to_string(i) + ".log"}});
  }
  return runners;
}

}  // namespace

int main(int argc, char** argv) {
  std::string name;
  bool json = false;
  unsigned interval_ms = 1000;
  unsigned count = 0;
  CLI::App app{"snapfaas-stat: live per-runner state of a snapfaas-supervisor"};
  app.add_option("--name", name, "stats object (default: newest /dev/shm/snapfaas-*-stats)");
  app.add_flag("--json", json, "print one JSON snapshot and exit");
  app.add_option("--interval", interval_ms, "refresh period, ms")->capture_default_str();
  app.add_option("--count", count, "stop after this many refreshes (0 = until the supervisor exits)");
  CLI11_PARSE(app, argc, argv);
  try {
    if (name.empty()) name = find_block();
    if (name.empty()) throw std::runtime_error("no supervisor stats block in /dev/shm");
    const auto reader = ipc::StatsReader::open(name);
    if (json) {
      std::printf("%s\n", nlohmann::json{{"name", name}, {"runners", snapshot_json(reader)}}.dump().c_str());
      return 0;
    }
    const std::string path = "/dev/shm" + name;
    for (unsigned n = 0; count == 0 || n < count; ++n) {
      if (::access(path.c_str(), F_OK) != 0) break;  // the supervisor removed it: it exited
      std::printf("\033[H\033[2Jsnapfaas-stat %s  (%u runners)  consoles: %s/runner-N.log\n", name.c_str(),
                  reader.runner_count(), reader.console_dir().empty() ? "(not kept)" : reader.console_dir().c_str());
      std::printf("%6s %-10s %-20s %10s %8s %10s %7s %10s %10s\n", "RUNNER", "STATE", "FUNCTION", "REQUESTS", "COLD",
                  "WARM", "ERRORS", "P50(us)", "P99(us)");
      for (const auto& r : snapshot_json(reader)) {
        std::printf("%6u %-10s %-20s %10lu %8lu %10lu %7lu %10.0f %10.0f\n", r["runner"].get<unsigned>(),
                    r["state"].get<std::string>().c_str(), r["function"].get<std::string>().c_str(),
                    r["requests"].get<unsigned long>(), r["cold"].get<unsigned long>(),
                    r["warm"].get<unsigned long>(), r["errors"].get<unsigned long>(), r["p50_us"].get<double>(),
                    r["p99_us"].get<double>());
      }
      std::fflush(stdout);
      std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "snapfaas-stat: %s\n", e.what());
    return 1;
  }
  return 0;
}
