// bench_supervisor: the supervisor's own costs, same run: warm throughput (requests/s through
// pre-warmed runners) and cold-start latency with pre-spawned runners vs spawning a runner on
// demand. Runners are jailed. The runner is the fake runner (tests/supervisor/fake_runner): the
// real firerunner does not serve requests through the ring window yet; the "runner" key says so.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>

#include "supervisor/runner_pool.h"

using namespace snapfaas::supervisor;

namespace {

std::vector<FunctionConfig> functions(unsigned n, std::uint32_t limit) {
  std::vector<FunctionConfig> fs;
  for (unsigned i = 0; i < n; ++i) {
    FunctionConfig f;
    f.name = "f" + std::to_string(i);
    f.memory = 16;
    f.concurrency_limit = limit;
    fs.push_back(f);
  }
  return fs;
}

PoolOptions pool_options(std::uint32_t runners, bool prespawn) {
  PoolOptions o;
  o.runner_binary = SNAPFAAS_FAKE_RUNNER_PATH;
  o.scheduler = {16ULL * runners, runners, 1'000'000, std::chrono::milliseconds(0)};
  o.prespawn = prespawn;
  return o;
}

// Each request for a different function, spaced so that they never overlap: every one is cold.
double cold_p50(Jailer& jailer, bool prespawn, unsigned count) {
  RunnerPool pool(pool_options(count, prespawn), functions(count, 1), jailer);
  pool.start();
  std::vector<WorkloadRequest> w;
  for (unsigned i = 0; i < count; ++i) w.push_back({i * 50ULL, 0, "f" + std::to_string(i), "{}"});
  RunStats stats;
  std::atomic<bool> stop{false};
  pool.run(w, stats, {}, stop);
  if (stats.cold() != count) spdlog::warn("cold run: {} of {} cold", stats.cold(), count);
  return stats.latency_percentile(50, 1);
}

}  // namespace

int main(int argc, char** argv) {
  std::string out;
  bool quick = false;
  unsigned runners = 4;
  CLI::App app{"bench_supervisor"};
  app.add_option("--out", out, "JSON output file");
  app.add_flag("--quick", quick, "fewer requests");
  app.add_option("--runners", runners, "runners for the warm run")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);
  const unsigned warm_requests = quick ? 20'000 : 200'000;
  const unsigned cold_requests = quick ? 10 : 40;

  Jailer jailer(JailOptions{});
  // Warm: one function, a VM per runner, warmed by one request each, then a burst at time 0.
  RunnerPool pool(pool_options(runners, true), functions(1, runners), jailer);
  pool.start();
  std::atomic<bool> stop{false};
  {
    std::vector<WorkloadRequest> warmup(runners, WorkloadRequest{0, 0, "f0", "{}"});
    RunStats s;
    pool.run(warmup, s, {}, stop);
  }
  std::vector<WorkloadRequest> burst(warm_requests, WorkloadRequest{0, 0, "f0", R"({"k":1})"});
  RunStats warm;
  const auto t0 = std::chrono::steady_clock::now();
  pool.run(burst, warm, {}, stop);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  pool.shutdown();
  const double warm_rps = static_cast<double>(warm.count("ok")) / seconds;

  const double cold_pre = cold_p50(jailer, true, cold_requests);
  const double cold_spawn = cold_p50(jailer, false, cold_requests);
  const nlohmann::json result{
      {"runner", "fake (tests/supervisor/fake_runner: firerunner cannot serve the ring window yet)"},
      {"jailed", true},
      {"runners", runners},
      {"warm_requests", warm_requests},
      {"warm_ok", warm.count("ok")},
      {"warm_rps", warm_rps},
      {"warm_p50_ms", warm.latency_percentile(50)},
      {"cold_requests", cold_requests},
      {"cold_prespawned_p50_ms", cold_pre},
      {"cold_spawn_p50_ms", cold_spawn},
      {"spawn_over_prespawned", cold_pre > 0 ? cold_spawn / cold_pre : 0.0}};
  std::printf("%s\n", result.dump(2).c_str());
  if (!out.empty()) std::ofstream(out) << result.dump(2) << '\n';
  return 0;
}
