// firerunner's pre-spawned restore mode (see restore_server.h).
#include "runner/restore_server.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <utility>

#include "common/error.h"
#include "ipc/channel_layout.h"
#include "runner/snapshot/vmm_snapshot.h"
#include "runner/vmm.h"
#include "runner/window/restore_record_writer.h"
#include "runner/window/window_service.h"

namespace snapfaas::runner {

namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

/// The outcome of one load command.
struct Load {
  bool run = false;       ///< start the vCPUs
  bool failed = false;    ///< the VM may be half-restored: exit after the reply
  ipc::ControlResult status = ipc::ControlResult::kOk;
  std::optional<snapshot::SnapshotId> base;
};

/// Each function's snapshot layers, loaded and validated at spawn (empty: load at the restore).
using Preloaded = std::vector<std::optional<snapshot::LoadedSnapshot>>;

// At most this many functions are loaded ahead (each holds an fd per layer; RLIMIT_NOFILE).
constexpr std::size_t kMaxPreloaded = 128;

Preloaded preload(const std::vector<FunctionImage>& table) {
  Preloaded out(table.size());
  for (std::size_t i = 0; i < table.size() && i < kMaxPreloaded; ++i) {
    if (table[i].snapshot_dirs.empty()) continue;
    try {
      out[i] = snapshot::load_snapshot(table[i].snapshot_dirs);
    } catch (const std::exception& e) {  // its restore loads it again and fails with this reason
      spdlog::warn("firerunner: snapshot of function {} ({}) not loaded ahead: {}", i, table[i].name, e.what());
    }
  }
  return out;
}

Load load_function(Vmm& vmm, const std::vector<FunctionImage>& table, const ipc::ControlCommand& command,
                   const TestHook& hook, Preloaded& preloaded, snapshot::PreparedRestore* prepared) {
  const auto op = static_cast<ipc::ControlOp>(command.op);
  if (command.arg0 >= table.size()) {
    spdlog::error("firerunner: load command {} names function {}, the table has {}", command.command_id,
                  command.arg0, table.size());
    return {false, false, ipc::ControlResult::kBadFunction, {}};  // nothing touched: still waiting for a valid command
  }
  const auto index = static_cast<std::int64_t>(command.arg0);
  const FunctionImage& f = table[command.arg0];
  hook.fire("stall_on_load", index);
  hook.fire("forbidden_syscall", index);
  if (op == ipc::ControlOp::kBoot) {
    spdlog::info("firerunner: boot of function {} ({}): starting the --kernel", index, f.name);
    return {true, false, ipc::ControlResult::kOk, {}};
  }
  if (f.snapshot_dirs.empty()) {
    spdlog::error("firerunner: restore of function {} ({}): it has no snapshot", index, f.name);
    return {false, false, ipc::ControlResult::kNoSnapshot, {}};
  }
  std::optional<snapshot::LoadedSnapshot> loaded = std::exchange(preloaded[command.arg0], std::nullopt);
  for (const std::string& dir : f.snapshot_dirs) {
    if (!loaded && !std::filesystem::is_directory(dir)) {
      spdlog::error("firerunner: restore of function {} ({}): snapshot directory {} missing", index, f.name, dir);
      return {false, false, ipc::ControlResult::kNoSnapshot, {}};  // checked before touching the VM
    }
  }
  snapshot::RestoreOptions options;
  options.eager_base = (command.arg1 & ipc::kLoadCopyBase) != 0;
  options.eager_diff = (command.arg1 & ipc::kLoadCopyDiff) != 0;
  try {
    const auto t0 = Clock::now();
    const snapshot::SnapshotId id =
        loaded ? snapshot::restore_vmm(vmm, std::move(*loaded), options, /*dirty_logging=*/false, f.appfs, prepared)
               : snapshot::restore_vmm(vmm, f.snapshot_dirs, options, /*dirty_logging=*/false, f.appfs, prepared);
    spdlog::info("firerunner: restored function {} ({}) in {:.3f} ms", index, f.name, ms_between(t0, Clock::now()));
    return {true, false, ipc::ControlResult::kOk, id};
  } catch (const std::exception& e) {
    // One clear line on stderr whatever the log level: the supervisor's log keeps it.
    std::fprintf(stderr, "firerunner: restore of function %lld (%s) failed: %s\n", static_cast<long long>(index),
                 f.name.c_str(), e.what());
    return {false, true, ipc::ControlResult::kLoadFailed, {}};
  }
}

}  // namespace

std::vector<FunctionImage> read_function_table(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw common::sys_error("open function table " + path);
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded()) throw common::Error("function table " + path + ": not valid JSON");
  if (!j.is_object() || !j.contains("functions") || !j["functions"].is_array()) {
    throw common::Error("function table " + path + ": needs an array 'functions'");
  }
  std::vector<FunctionImage> table;
  for (auto& entry : j["functions"]) {
    const std::string where = "function table " + path + " entry " + std::to_string(table.size());
    if (!entry.is_object()) throw common::Error(where + ": not an object");
    FunctionImage f;
    try {
      f.name = entry.value("name", std::string{});
      if (entry.contains("snapshot_dirs")) f.snapshot_dirs = entry["snapshot_dirs"].get<std::vector<std::string>>();
      f.appfs = entry.value("appfs", std::string{});
      f.copy_base = entry.value("copy_base", false);
      f.copy_diff = entry.value("copy_diff", false);
    } catch (const nlohmann::json::exception& e) {
      throw common::Error(where + ": " + e.what());
    }
    table.push_back(std::move(f));
  }
  return table;
}

TestHook TestHook::parse(const std::string& spec) {
  TestHook hook;
  if (spec.empty()) return hook;
  const auto colon = spec.find(':');
  hook.name = spec.substr(0, colon);
  if (colon != std::string::npos) hook.function = std::stoll(spec.substr(colon + 1));
  if (hook.name != "forbidden_syscall" && hook.name != "stall_on_load") {
    throw common::Error("--test_hook " + spec + ": unknown hook");
  }
  return hook;
}

void TestHook::fire(const char* what, std::int64_t loading) const {
  if (name != what || (function >= 0 && function != loading)) return;
  std::fprintf(stderr, "firerunner: test hook %s fired\n", what);
  if (name == "stall_on_load") ::sleep(60);  // the supervisor's deadline kills it (a jail's pid 1 cannot raise SIGKILL)
  if (name == "forbidden_syscall") (void)::syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
}

int run_restore_server(const RestoreServerConfig& config) {
  const std::vector<FunctionImage> table = read_function_table(config.functions_file);
  const auto created = Clock::now();
  Vmm vmm(config.vmm);
  window::WindowServiceOptions window_options;
  window_options.serve_loads = true;
  // Filters compiled now, installed later by the threads they are for (one seccomp(2) call each).
  const CompiledSeccomp control_filter = CompiledSeccomp::compile(ThreadRole::kControl, config.seccomp);
  const CompiledSeccomp vcpu_filter = CompiledSeccomp::compile(ThreadRole::kVcpu, config.seccomp);
  window_options.control_thread_init = [control_filter] { control_filter.install(); };
  window::WindowService window(config.channel, vmm, created, std::move(window_options));
  // Everything that does not depend on which function comes: the snapshot files are loaded and
  // validated, the vCPU threads are started parked under their filters, and for
  // ring-3 VMs whose functions all restore snapshots (a kBoot must find the --kernel untouched)
  // the restore is prepared for the first function (the others share its base or fall back to a
  // full restore). Linux VMs restore unprepared until the preparation was measured with them
  // (that needs the emulated KVM host here).
  Preloaded preloaded = preload(table);
  snapshot::PreparedRestore prepared;
  const bool all_restore = std::all_of(table.begin(), table.end(), [](const FunctionImage& f) { return !f.snapshot_dirs.empty(); });
  if (vmm.ring3() && all_restore) {
    const auto candidate = std::find_if(table.begin(), table.end(), [](const FunctionImage& f) {
      return !f.snapshot_dirs.empty() && !f.copy_base;
    });
    const auto index = static_cast<std::size_t>(candidate - table.begin());
    if (candidate != table.end() && preloaded[index]) {  // not loaded: its restore fails clearly
      try {
        prepared = snapshot::prepare_vmm(vmm, *preloaded[index], {});
      } catch (const std::exception& e) {
        spdlog::warn("firerunner: pre-spawn preparation for {} skipped: {}", candidate->name, e.what());
      }
    }
  }
  apply_seccomp(ThreadRole::kVmm, config.seccomp);
  // The vCPU threads exist from now on, each under the VMM filter it inherits plus its own vCPU
  // filter; they enter KVM_RUN only when run() releases them after the load.
  vmm.start_vcpus_parked([&vcpu_filter] { vcpu_filter.install(); });
  spdlog::info("firerunner: pre-spawned, {} functions, VM ready in {:.3f} ms{}, waiting for a load command",
               table.size(), ms_between(created, Clock::now()), prepared.valid ? " (restore prepared)" : "");
  if (config.test_hook.function < 0) config.test_hook.fire("forbidden_syscall", -1);

  Load load;
  while (!load.run) {
    const std::optional<ipc::ControlCommand> command = window.wait_load_command();
    if (!command) {
      if (window.ports().stopped()) throw common::Error("the VM stopped before any load (a thread failed to start: see above)");
      spdlog::info("firerunner: shut down before any load");
      return 0;
    }
    load = load_function(vmm, table, *command, config.test_hook, preloaded, &prepared);
    if (load.run && load.base) {
      // A restored guest is a clone: fresh entropy and the host clock before its vCPUs run.
      const window::PublishedRestore published = window::publish_restore_record(window.channel());
      spdlog::debug("firerunner: restore record generation {} published in {} ns", published.generation,
                    published.cost_ns);
    }
    window.ports().reply_control(*command, static_cast<std::int32_t>(load.status),
                                 static_cast<std::uint64_t>(ms_between(created, Clock::now()) * 1e6));
    if (load.failed) return 1;
  }
  // The snapshot point only answers (ring-3 port: RESTORED; no output directory, no saver thread).
  // This thread keeps the VMM role: it only waits for the VM to stop.
  std::optional<snapshot::SnapshotPoint> point;
  point.emplace(vmm, std::string{}, load.base, load.base.has_value(), true, vmm.ring3());
  window.ports().set_snapshot_hook([&point](std::uint32_t code) { point->request(code); });
  window.start_control_thread();  // answers control commands until the guest's first WAIT
  return vmm.run();
}

}  // namespace snapfaas::runner
