// snapfaas-supervisor: replays a JSON-lines workload (--requests_file) and/or serves HTTP
// (--listen) through pre-spawned, jailed runners — two request sources into one event loop; writes
// one JSON result per replayed request, an access log line per HTTP request, a summary and a stats
// file at exit. SIGINT/SIGTERM: stop accepting, answer what is in flight, exit; a second one: at once.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>

#include "common/error.h"
#include "common/log.h"
#include "ipc/shm_object.h"
#include "supervisor/config.h"
#include "supervisor/config_paths.h"
#include "supervisor/cpu_placement.h"
#include "supervisor/function_table.h"
#include "supervisor/http_server.h"
#include "supervisor/http_source.h"
#include "supervisor/pool_launch.h"
#include "supervisor/pool_plan.h"
#include "supervisor/runner_pool.h"
#include "supervisor/source_set.h"
#include "supervisor/workload.h"
#include "supervisor/workload_source.h"

namespace {

std::atomic<bool> g_stop{false};   // first SIGINT/SIGTERM: drain
std::atomic<bool> g_abort{false};  // second: exit at once (still removing runners and shm objects)
static_assert(std::atomic<bool>::is_always_lock_free);  // async-signal-safe

extern "C" void on_signal(int) {
  if (g_stop.exchange(true, std::memory_order_relaxed)) g_abort.store(true, std::memory_order_relaxed);
}

// Thousands of client connections need descriptors: the soft limit goes up to the hard one.
void raise_file_limit() noexcept {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace snapfaas::supervisor;
  std::string config_path, requests_file, output, stats_file, log_level;
  std::uint64_t mem = 0;
  std::uint32_t runners = 0;
  std::size_t queue = 1024;
  std::uint64_t keep_alive = 0, deadline = 0;
  bool no_jail = false, spawn_on_demand = false;
  std::vector<std::string> runner_extra;
  JailOptions jail;
  std::string listen;
  HttpOptions http;
  unsigned drain_timeout_ms = 5'000, loop_spin_us = 50;
  CLI::App app{"snapfaas-supervisor: serve functions in pre-spawned runners: replay a workload, serve HTTP, or both"};
  app.add_option("--config", config_path, "controller YAML")->required();
  app.add_option("--mem", mem, "memory budget for VMs, MiB")->required();
  auto* requests_option = app.add_option("--requests_file", requests_file, "workload to replay, JSON lines");
  auto* listen_option =
      app.add_option("--listen", listen, "serve HTTP on ADDRESS:PORT until SIGTERM/SIGINT (with or without --requests_file)");
  app.add_option("--http_threads", http.threads, "HTTP threads")->capture_default_str();
  unsigned http_spin_us = 50;
  app.add_option("--http_spin", http_spin_us, "an HTTP thread polls this long before it blocks, us")->capture_default_str();
  app.add_option("--http_max_connections", http.max_connections, "open connections; past it 503")->capture_default_str();
  app.add_option("--http_header_limit", http.header_limit, "request head, bytes; past it 431")->capture_default_str();
  unsigned idle_ms = 60'000, request_ms = 10'000, write_ms = 10'000, log_mib = 0;
  app.add_option("--http_idle_timeout", idle_ms, "keep-alive: close a connection idle this long, ms")->capture_default_str();
  app.add_option("--http_request_timeout", request_ms, "a request must arrive whole this long after its first byte, ms")
      ->capture_default_str();
  app.add_option("--http_write_timeout", write_ms, "writing one response, ms")->capture_default_str();
  app.add_option("--access_log", http.access_log, "access log file; '-' stderr, '' none")->capture_default_str();
  app.add_option("--access_log_max_mib", log_mib, "rotate the access log past this size, MiB (0: never)")
      ->capture_default_str();
  app.add_option("--access_log_files", http.access_log_files, "rotated access logs kept")->capture_default_str();
  app.add_option("--drain_timeout", drain_timeout_ms, "after SIGTERM, wait this long for requests in flight, ms")
      ->capture_default_str();
  app.add_option("--loop_spin", loop_spin_us, "the event loop polls this long before it parks (adaptive), us")
      ->capture_default_str();
  bool loop_spin_yield = true;
  app.add_option("--loop_spin_yield", loop_spin_yield, "the event loop's polls yield the CPU (sched_yield)")
      ->capture_default_str();
  std::string supervisor_cpus, runner_cpus;
  app.add_option("--supervisor_cpus", supervisor_cpus,
                 "CPUs for the supervisor's own threads (event loop, HTTP), e.g. 1 or 2-3 (default: any)");
  app.add_option("--runner_cpus", runner_cpus,
                 "CPUs for the runners (their vCPUs), e.g. 0 or 0-1 (default: any; with --supervisor_cpus alone, the "
                 "CPUs the supervisor started with)");
  app.add_option("--output", output, "result lines (default stdout)");
  app.add_option("--stats", stats_file, "stats JSON written at exit");
  app.add_option("--runners", runners, "total runners, shared out over the VM-shape pools (default: sized from --mem by the workload)");
  app.add_option("--queue", queue, "waiting requests before 'dropped: no capacity'")->capture_default_str();
  app.add_option("--keep_alive", keep_alive, "evict VMs idle this long, ms (0 = never)")->capture_default_str();
  app.add_option("--deadline", deadline,
                 "per-request deadline for every function, ms, overriding their timeout_ms (0 = use timeout_ms)")
      ->capture_default_str();
  std::uint64_t default_timeout = 30'000;
  app.add_option("--default_timeout", default_timeout, "deadline of functions without timeout_ms, ms")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  std::string console_dir;
  app.add_option("--console_dir", console_dir,
                 "each runner's guest console goes to DIR/runner-N.log (default /tmp/snapfaas-consoles-PID)");
  app.add_flag("--no_jail", no_jail, "start runners without the jailer (debugging)");
  unsigned start_timeout_ms = 10'000;
  app.add_option("--start_timeout", start_timeout_ms, "a runner that is not ready this long after its spawn fails, ms")
      ->capture_default_str();
  app.add_flag("--spawn_on_demand", spawn_on_demand, "spawn runners at cold start instead of ahead of time");
  app.add_option("--uid_base", jail.uid_base, "runner i runs as uid UID_BASE+i (one uid per runner)")
      ->capture_default_str();
  app.add_option("--gid_base", jail.gid_base, "runner i runs as gid GID_BASE+i")->capture_default_str();
  std::uint64_t runner_memory_max = 0;
  app.add_option("--runner_memory_max", runner_memory_max,
                 "cgroup v2 memory.max per runner, MiB (default: the largest VM + 256; 0: none)");
  app.add_option("--runner_pids_max", jail.pids_limit, "cgroup v2 pids.max per runner (0: none)")->capture_default_str();
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error");
  app.add_option("--runner_arg", runner_extra, "extra argument for every runner (tests, debugging); repeatable")
      ->allow_extra_args(false);
  CLI11_PARSE(app, argc, argv);
  if (requests_option->count() == 0 && listen_option->count() == 0) {
    std::fprintf(stderr, "snapfaas-supervisor: give --requests_file, --listen or both\n");
    return 2;
  }
  http.spin = std::chrono::microseconds(http_spin_us);
  http.idle_timeout = std::chrono::milliseconds(idle_ms);
  http.request_timeout = std::chrono::milliseconds(request_ms);
  http.write_timeout = std::chrono::milliseconds(write_ms);
  http.access_log_max_bytes = std::size_t{log_mib} << 20;
  http.body_limit = snapfaas::ipc::kDefaultSlotSize;  // a payload must fit one channel slot
  snapfaas::common::init_logging("snapfaas-supervisor", log_level);

  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  try {
    const ControllerConfig controller = load_controller_config(config_path);
    std::vector<FunctionConfig> functions = load_functions(controller, config_path);
    if (!listen.empty()) parse_listen_address(listen, http);
    const std::vector<WorkloadRequest> workload =
        requests_file.empty() ? std::vector<WorkloadRequest>{} : read_workload_file(requests_file);
    std::uint32_t largest = 0;
    for (const auto& f : functions) largest = std::max(largest, f.memory);
    // Runners are pre-spawned before they know their function: one pool per VM shape (memory,
    // vCPUs, runtime image, kernel), each sized from --mem by what the workload asks of it, or as
    // the controller's `pool:` section says (pool_plan.h).
    const PoolPlan plan = plan_pools(functions, requests_per_function(functions, workload), mem, runners, controller.pools);
    PoolOptions options;
    options.runner_binary = runner_binary(controller);  // firerunner_path, else found (config_paths.h)
    // Network functions (docs/NETWORKING.md): every runner may get one, so each joins its own
    // namespace <prefix><slot> (scripts/setup-network.sh N) and opens tap0 there at spawn. A
    // restore keeps only the devices the snapshot has: functions without network restore a base
    // built without the device, so their guests never see one.
    const auto net_function = std::find_if(functions.begin(), functions.end(), [](const auto& f) { return f.network; });
    if (net_function != functions.end()) {
      for (const auto& f : functions) {
        if (f.ring3 && f.network) throw snapfaas::common::Error("function '" + f.name + "': ring-3 guests have no network device");
        if (!f.network && !f.ring3 && !f.restores_snapshot()) {
          throw snapfaas::common::Error("function '" + f.name + "' boots without a snapshot on runners that carry the network device '" +
                                        net_function->name + "' needs: give it a snapshot, or network: true");
        }
      }
      options.runner.network = controller.network_tap;
      jail.netns_prefix = controller.network_namespace_prefix;
    }
    options.runner.kernel_args = controller.kernel_args;  // seed: kernel_args / kernel_boot_args
    options.runner_extra = runner_extra;
    const PoolLaunch launch(controller, functions, plan, options.runner);  // the tables live as long as the runners
    options.pools = launch.pools();
    options.scheduler = {mem, plan.runners(), queue, std::chrono::milliseconds(keep_alive), plan.pool_of_slot(),
                         plan.pool_of_function};
    spdlog::info("supervisor: runner pools: {}", plan.describe());
    check_network_namespaces(jail.netns_prefix, options.scheduler.runners);  // one clear line, before any spawn
    if (!jail.netns_prefix.empty()) {
      spdlog::info("supervisor: function '{}' has network: true: runner i joins /run/netns/{}i with --network {}",
                   net_function->name, jail.netns_prefix, controller.network_tap);
    }
    options.deadline = std::chrono::milliseconds(deadline);
    options.default_timeout = std::chrono::milliseconds(default_timeout);
    options.console_dir = console_dir.empty() ? "/tmp/snapfaas-consoles-" + std::to_string(::getpid()) : console_dir;
    options.prespawn = !spawn_on_demand;
    options.start_timeout = std::chrono::milliseconds(start_timeout_ms);
    options.drain_timeout = std::chrono::milliseconds(drain_timeout_ms);
    options.loop_spin = std::chrono::microseconds(loop_spin_us);
    options.loop_spin_yield = loop_spin_yield;
    options.stats_name = snapfaas::ipc::stats_object_name(::getpid());
    jail.enabled = !no_jail;
    // CPU placement (cpu_placement.h): the runners' set is fixed before the supervisor pins itself.
    if (!supervisor_cpus.empty() || !runner_cpus.empty()) {
      const CpuList runner_set = runner_cpus.empty() ? current_cpus() : parse_cpu_list(runner_cpus, "--runner_cpus");
      jail.pin_cpus = true;
      jail.cpus = runner_set.set;
      if (!supervisor_cpus.empty()) pin_this_thread(parse_cpu_list(supervisor_cpus, "--supervisor_cpus"));
      spdlog::info("supervisor: CPU placement: supervisor threads on {}, runners on {}", current_cpus().text,
                   runner_set.text);
    }
    // A runner's memory: its VM's RAM (shared anonymous memory, charged when touched), the pages
    // it copies from snapshots, and the VMM's own; 256 MiB over the largest VM leaves room for both.
    jail.memory_limit_bytes = (app.count("--runner_memory_max") != 0 ? runner_memory_max : largest + 256ULL) << 20;
    Jailer jailer(jail);
    RunnerPool pool(options, functions, jailer);
    spdlog::info("supervisor: {} functions, {} requests, {} runners, budget {} MiB, stats block {}, consoles in {}",
                 functions.size(), workload.size(), options.scheduler.runners, mem, options.stats_name,
                 options.console_dir);
    pool.start();

    std::ofstream out_file;
    if (!output.empty()) {
      out_file.open(output);
      if (!out_file) throw snapfaas::common::sys_error("open " + output);
    }
    std::ostream& out = output.empty() ? std::cout : out_file;
    RunStats stats;
    // One event loop over both sources: the workload (replayed from now) and HTTP.
    std::unique_ptr<HttpServer> server;
    HttpSource http_source([&server] { server->stop_accepting(); });
    std::optional<snapfaas::ipc::StatsReader> stats_reader;
    std::vector<RequestSource*> sources;
    if (!listen.empty()) {
      raise_file_limit();
      stats.set_record_limit(100'000);  // a service runs for long: counts stay exact, records are the newest
      stats_reader.emplace(snapfaas::ipc::StatsReader::open(options.stats_name));
      server = std::make_unique<HttpServer>(http, http_source, functions, *stats_reader);
      server->start();
      sources.push_back(&http_source);
    }
    // Should pool.run throw, the HTTP threads stop before http_source and stats_reader (declared
    // after the server) go; the server object itself is left to the exit, since the pool's requests
    // in flight still hold its sessions. On the normal path the server is gone before this runs.
    struct StopServerOnThrow {
      std::unique_ptr<HttpServer>& server;
      ~StopServerOnThrow() {
        if (!server) return;
        server->drain(std::chrono::milliseconds(0));
        (void)server.release();  // left to the exit, see above
      }
    } stop_server_on_throw{server};
    WorkloadSource replay(workload, WorkloadSource::Clock::now());  // time 0 is now
    if (!requests_file.empty()) sources.push_back(&replay);
    SourceSet source(sources);
    pool.run(source, stats, [&](const RequestRecord& r) { out << to_json(r).dump() << '\n'; }, g_stop, &g_abort);
    if (server) {
      http_source.discard();  // left only after a second signal
      server->drain(std::chrono::milliseconds(drain_timeout_ms), &g_abort);  // answers in flight are written
      server.reset();
    }
    out.flush();
    pool.shutdown();
    nlohmann::json summary = stats.summary();
    summary["interrupted"] = g_stop.load(std::memory_order_relaxed);
    std::fprintf(stderr, "summary: %s\n", summary.dump().c_str());
    if (!stats_file.empty()) {
      nlohmann::json full = stats.full();
      full["interrupted"] = summary["interrupted"];
      full["runners"] = options.scheduler.runners;
      full["pools"] = nlohmann::json::array();
      for (const PlannedPool& p : plan.pools) {
        nlohmann::json names = nlohmann::json::array();
        for (const std::uint32_t f : p.functions) names.push_back(functions[f].name);
        full["pools"].push_back({{"memory", p.shape.memory}, {"vcpus", p.shape.vcpus}, {"runtimefs", p.shape.runtimefs},
                                 {"runners", p.runners}, {"functions", names}, {"from_config", p.from_config}});
      }
      full["mem_mib"] = mem;
      std::ofstream s(stats_file);
      s << full.dump(1) << '\n';
      if (!s) throw snapfaas::common::sys_error("write " + stats_file);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "snapfaas-supervisor: %s\n", e.what());
    return 1;
  }
  return 0;
}
