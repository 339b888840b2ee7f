// snapfaas-stat: attaches read-only to a supervisor's stats block and shows each runner's state,
// function, counters and latency percentiles, the per-function counters (with the mean of each
// cold-request phase, ipc::kColdPhaseNames) and the totals,
// refreshing like top; --json prints one snapshot.
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
                       {"state", ipc::runner_state_name(s->state)},
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

nlohmann::json functions_json(const ipc::StatsReader& reader) {
  nlohmann::json functions = nlohmann::json::array();
  for (std::uint32_t i = 0; i < reader.function_count(); ++i) {
    auto f = reader.function(i);
    if (!f) continue;
    nlohmann::json outcomes = nlohmann::json::object();
    for (std::size_t o = 0; o < reader.outcome_names().size(); ++o) {
      if (f->outcomes[o] != 0) outcomes[reader.outcome_names()[o]] = f->outcomes[o];
    }
    // Mean ms per cold-request phase over the cold requests timed (ipc::kColdPhaseNames).
    nlohmann::json phases = nlohmann::json::object();
    for (std::size_t p = 0; p < ipc::kColdPhases && f->cold_timed != 0; ++p) {
      phases[ipc::kColdPhaseNames[p]] = static_cast<double>(f->cold_phase_us_sum[p]) / 1000.0 / static_cast<double>(f->cold_timed);
    }
    // Mean KVM page faults and exits from the load to the first response, per cold request
    // counted (null when none is).
    auto per_counted = [&f](std::uint64_t sum) {
      return f->cold_counted == 0 ? nlohmann::json()
                                  : nlohmann::json(static_cast<double>(sum) / static_cast<double>(f->cold_counted));
    };
    functions.push_back({{"function", std::string(f->function_name())},
                         {"cold_timed", f->cold_timed},
                         {"cold_phase_mean_ms", phases},
                         {"cold_counted", f->cold_counted},
                         {"cold_page_faults_mean", per_counted(f->cold_page_faults_sum)},
                         {"cold_exits_mean", per_counted(f->cold_exits_sum)},
                         {"requests", f->requests},
                         {"in_flight", f->in_flight},
                         {"cold", f->cold},
                         {"warm", f->warm},
                         {"outcomes", outcomes},
                         {"p50_us", percentile_us(f->latency_us_log2, 50)},
                         {"p99_us", percentile_us(f->latency_us_log2, 99)}});
  }
  return functions;
}

nlohmann::json totals_json(const ipc::StatsReader& reader) {
  auto t = reader.totals();
  if (!t) return nullptr;
  return {{"queue_depth", t->queue_depth}, {"in_flight", t->in_flight}, {"restores", t->restores},
          {"boots", t->boots},             {"evictions", t->evictions}, {"runner_failures", t->runner_failures},
          {"draining", t->draining}};
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
      std::printf("%s\n", nlohmann::json{{"name", name},
                                         {"runners", snapshot_json(reader)},
                                         {"functions", functions_json(reader)},
                                         {"totals", totals_json(reader)}}
                                .dump()
                                .c_str());
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
      const nlohmann::json totals = totals_json(reader);
      if (!totals.is_null()) {
        std::printf("\nqueue %lu  in flight %lu  restores %lu  boots %lu  evictions %lu  runner failures %lu%s\n",
                    totals["queue_depth"].get<unsigned long>(), totals["in_flight"].get<unsigned long>(),
                    totals["restores"].get<unsigned long>(), totals["boots"].get<unsigned long>(),
                    totals["evictions"].get<unsigned long>(), totals["runner_failures"].get<unsigned long>(),
                    totals["draining"].get<bool>() ? "  DRAINING" : "");
      }
      std::printf("\n%-20s %10s %9s %8s %10s %10s %10s\n", "FUNCTION", "REQUESTS", "INFLIGHT", "COLD", "WARM",
                  "P50(us)", "P99(us)");
      for (const auto& f : functions_json(reader)) {
        std::printf("%-20s %10lu %9lu %8lu %10lu %10.0f %10.0f\n", f["function"].get<std::string>().c_str(),
                    f["requests"].get<unsigned long>(), f["in_flight"].get<unsigned long>(),
                    f["cold"].get<unsigned long>(), f["warm"].get<unsigned long>(), f["p50_us"].get<double>(),
                    f["p99_us"].get<double>());
      }
      std::printf("\n%-20s %8s", "COLD PHASES (mean ms)", "TIMED");
      for (const char* phase : ipc::kColdPhaseNames) std::printf(" %10s", phase);
      std::printf(" %11s %8s\n", "PAGE_FAULTS", "EXITS");
      for (const auto& f : functions_json(reader)) {
        const bool timed = f["cold_timed"].get<unsigned long>() != 0;
        if (!timed && f["cold_counted"].get<unsigned long>() == 0) continue;
        std::printf("%-20s %8lu", f["function"].get<std::string>().c_str(), f["cold_timed"].get<unsigned long>());
        for (const char* phase : ipc::kColdPhaseNames) {
          if (timed) {
            std::printf(" %10.1f", f["cold_phase_mean_ms"][phase].get<double>());
          } else {
            std::printf(" %10s", "-");
          }
        }
        if (f["cold_counted"].get<unsigned long>() != 0) {
          std::printf(" %11.0f %8.0f\n", f["cold_page_faults_mean"].get<double>(), f["cold_exits_mean"].get<double>());
        } else {
          std::printf(" %11s %8s\n", "-", "-");
        }
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
