// bench_supervisor: warm throughput (requests/s through pre-warmed runners) and cold-start latency
// with pre-spawned runners vs spawning a runner on demand, same run, jailed runners. Two runners:
// the real firerunner serving ring-3 echo guests restored from a base snapshot (pre-spawned
// runners restore it on kRestore; on-demand runners are spawned, then restore) — the top-level
// keys — and the fake runner (tests/supervisor/fake_runner: the supervisor's own costs) under "fake".
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include <unistd.h>

#include "common/error.h"
#include "ipc/channel.h"
#include "supervisor/function_table.h"
#include "supervisor/runner_pool.h"

using namespace snapfaas::supervisor;

namespace {

/// The real runner's setup: an echo snapshot and the function table (empty snapshot = fake runner).
struct Real {
  std::string snapshot;  // base snapshot dir of the echo guest ("" = fake runner)
  std::string dir;
};

std::vector<FunctionConfig> functions(const Real& real, unsigned n, std::uint32_t limit) {
  std::vector<FunctionConfig> fs;
  for (unsigned i = 0; i < n; ++i) {
    FunctionConfig f;
    f.name = "f" + std::to_string(i);
    f.memory = 16;
    f.concurrency_limit = limit;
    if (!real.snapshot.empty()) {
      f.kernel = SNAPFAAS_ECHO_GUEST_PATH;
      f.ring3 = true;
      f.load_dir = real.snapshot;
    }
    fs.push_back(f);
  }
  return fs;
}

struct Setup {
  PoolOptions options;
  std::vector<FunctionConfig> functions;
  std::unique_ptr<FunctionTableFile> table;
};

Setup setup(const Real& real, std::uint32_t runners, bool prespawn, unsigned nfunctions, std::uint32_t limit) {
  Setup s;
  s.functions = functions(real, nfunctions, limit);
  s.options.runner_binary = real.snapshot.empty() ? SNAPFAAS_FAKE_RUNNER_PATH : SNAPFAAS_FIRERUNNER_PATH;
  s.options.scheduler = {16ULL * runners, runners, 1'000'000, std::chrono::milliseconds(0)};
  s.options.prespawn = prespawn;
  if (!real.snapshot.empty()) {
    s.table = std::make_unique<FunctionTableFile>(ControllerConfig{}, s.functions);
    s.options.runner.kernel = SNAPFAAS_ECHO_GUEST_PATH;
    s.options.runner.ring3 = true;
    s.options.runner.mem_mib = 16;
    s.options.runner.log_level = "warn";
    s.options.runner.functions = s.table->path();
    s.options.jail = jail_contents(SNAPFAAS_ECHO_GUEST_PATH, "", s.table->path(), s.functions,
                                   function_table(ControllerConfig{}, s.functions));
  } else {
    s.options.jail = jail_contents("", "", "", s.functions, {});  // the fake runner reads no files
  }
  return s;
}

Real make_snapshot() {
  Real real;
  real.dir = (std::filesystem::temp_directory_path() / ("bench-supervisor-" + std::to_string(::getpid()))).string();
  std::filesystem::create_directories(real.dir);
  std::filesystem::permissions(real.dir, std::filesystem::perms::others_read | std::filesystem::perms::others_exec,
                               std::filesystem::perm_options::add);
  real.snapshot = real.dir + "/echo-base";
  const std::string name = "/snapfaas-bench-dump-" + std::to_string(::getpid());
  auto channel = snapfaas::ipc::SupervisorChannel::create(name, {});
  const std::string command = std::string(SNAPFAAS_FIRERUNNER_PATH) + " --kernel " + SNAPFAAS_ECHO_GUEST_PATH +
                              " --ring3 --mem_size 16 --log-level warn --channel " + name + " --dump_dir " +
                              real.snapshot + " > /dev/null";
  if (std::system(command.c_str()) != 0) throw snapfaas::common::Error("echo snapshot: firerunner failed");
  for (const auto& e : std::filesystem::recursive_directory_iterator(real.snapshot)) {
    std::filesystem::permissions(e.path(), std::filesystem::perms::others_read, std::filesystem::perm_options::add);
  }
  std::filesystem::permissions(real.snapshot, std::filesystem::perms::others_read | std::filesystem::perms::others_exec,
                               std::filesystem::perm_options::add);
  return real;
}

// Each request for a different function, spaced so that they never overlap: every one is cold.
double cold_p50(const Real& real, Jailer& jailer, bool prespawn, unsigned count) {
  Setup s = setup(real, count, prespawn, count, 1);
  RunnerPool pool(s.options, s.functions, jailer);
  pool.start();
  std::vector<WorkloadRequest> w;
  for (unsigned i = 0; i < count; ++i) w.push_back({i * 50ULL, 0, "f" + std::to_string(i), "{}"});
  RunStats stats;
  std::atomic<bool> stop{false};
  pool.run(w, stats, {}, stop);
  if (stats.cold() != count) spdlog::warn("cold run: {} of {} cold", stats.cold(), count);
  return stats.latency_percentile(50, 1);
}

struct Figures {
  double warm_rps = 0, warm_p50 = 0, cold_pre = 0, cold_spawn = 0;
  std::uint64_t warm_ok = 0;
};

Figures measure(const Real& real, Jailer& jailer, unsigned runners, unsigned warm_requests, unsigned cold_requests) {
  Figures f;
  {
    // Warm: one function, a VM per runner, warmed by one request each, then a burst at time 0.
    Setup s = setup(real, runners, true, 1, runners);
    RunnerPool pool(s.options, s.functions, jailer);
    pool.start();
    std::atomic<bool> stop{false};
    {
      std::vector<WorkloadRequest> warmup(runners, WorkloadRequest{0, 0, "f0", "{}"});
      RunStats st;
      pool.run(warmup, st, {}, stop);
    }
    std::vector<WorkloadRequest> burst(warm_requests, WorkloadRequest{0, 0, "f0", R"({"k":1})"});
    RunStats warm;
    const auto t0 = std::chrono::steady_clock::now();
    pool.run(burst, warm, {}, stop);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    pool.shutdown();
    f.warm_ok = warm.count("ok");
    f.warm_rps = static_cast<double>(f.warm_ok) / seconds;
    f.warm_p50 = warm.latency_percentile(50);
  }
  f.cold_pre = cold_p50(real, jailer, true, cold_requests);
  f.cold_spawn = cold_p50(real, jailer, false, cold_requests);
  return f;
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
  const Real real = make_snapshot();
  const Figures r = measure(real, jailer, runners, warm_requests, cold_requests);
  const Figures fake = measure(Real{}, jailer, runners, warm_requests, cold_requests);
  std::error_code ec;
  std::filesystem::remove_all(real.dir, ec);
  const nlohmann::json result{
      {"runner", "firerunner, ring-3 echo guest restored from a base snapshot (pre-spawned: kRestore; on demand: spawn + kRestore)"},
      {"jailed", true},
      {"runners", runners},
      {"warm_requests", warm_requests},
      {"warm_ok", r.warm_ok},
      {"warm_rps", r.warm_rps},
      {"warm_p50_ms", r.warm_p50},
      {"cold_requests", cold_requests},
      {"cold_prespawned_p50_ms", r.cold_pre},
      {"cold_spawn_p50_ms", r.cold_spawn},
      {"spawn_over_prespawned", r.cold_pre > 0 ? r.cold_spawn / r.cold_pre : 0.0},
      {"fake",
       {{"runner", "tests/supervisor/fake_runner (the supervisor's own costs)"},
        {"warm_ok", fake.warm_ok},
        {"warm_rps", fake.warm_rps},
        {"warm_p50_ms", fake.warm_p50},
        {"cold_prespawned_p50_ms", fake.cold_pre},
        {"cold_spawn_p50_ms", fake.cold_spawn},
        {"spawn_over_prespawned", fake.cold_pre > 0 ? fake.cold_spawn / fake.cold_pre : 0.0}}}};
  std::printf("%s\n", result.dump(2).c_str());
  if (!out.empty()) std::ofstream(out) << result.dump(2) << '\n';
  return 0;
}
