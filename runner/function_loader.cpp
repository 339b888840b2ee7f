// A pre-spawned runner's functions and their loads (see function_loader.h).
#include "runner/function_loader.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <utility>

#include "runner/snapshot/vmm_snapshot.h"

namespace snapfaas::runner {
namespace {

using Clock = std::chrono::steady_clock;

[[nodiscard]] double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

}  // namespace

FunctionLoader::FunctionLoader(std::vector<ipc::FunctionTableEntry> table, bool direct_io, snapshot::Verify verify)
    : table_(std::move(table)), verify_(verify), appfs_(table_.size()), appfs_error_(table_.size()) {
  for (std::size_t i = 0; i < table_.size() && i < kMaxPreloaded; ++i) {
    const std::string& path = table_[i].appfs;
    if (path.empty()) continue;
    appfs_[i].reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC | (direct_io ? O_DIRECT : 0)));
    if (!appfs_[i]) {
      appfs_error_[i] = "open app image " + path + ": " + std::strerror(errno);
      spdlog::warn("firerunner: function {} ({}): {}", i, table_[i].name, appfs_error_[i]);
    }
  }
}

void FunctionLoader::preload(Vmm& vmm) {
  preloaded_.clear();
  preloaded_.resize(table_.size());  // move-only entries: no assign()
  for (std::size_t i = 0; i < table_.size() && i < kMaxPreloaded; ++i) {
    if (table_[i].snapshot_dirs.empty()) continue;
    try {
      preloaded_[i] = snapshot::load_snapshot(table_[i].snapshot_dirs, verify_);
    } catch (const std::exception& e) {  // its restore loads it again and fails with this reason
      spdlog::warn("firerunner: snapshot of function {} ({}) not loaded ahead: {}", i, table_[i].name, e.what());
    }
  }
  // Linux VMs restore unprepared: the preparation was only measured with ring-3 guests.
  const bool all_restore = std::all_of(table_.begin(), table_.end(),
                                       [](const ipc::FunctionTableEntry& f) { return !f.snapshot_dirs.empty(); });
  if (!vmm.ring3() || !all_restore) return;
  const auto candidate = std::find_if(table_.begin(), table_.end(), [](const ipc::FunctionTableEntry& f) {
    return !f.snapshot_dirs.empty() && !f.copy_base;
  });
  if (candidate == table_.end()) return;
  const auto index = static_cast<std::size_t>(candidate - table_.begin());
  if (!preloaded_[index]) return;  // not loaded: its restore fails clearly
  try {
    prepared_ = snapshot::prepare_vmm(vmm, *preloaded_[index], {});
  } catch (const std::exception& e) {
    spdlog::warn("firerunner: pre-spawn preparation for {} skipped: {}", candidate->name, e.what());
  }
}

LoadOutcome FunctionLoader::load(Vmm& vmm, const ipc::ControlCommand& command,
                                 const std::function<void(std::uint32_t)>& loading) {
  const auto op = static_cast<ipc::ControlOp>(command.op);
  if (command.arg0 >= table_.size()) {
    spdlog::error("firerunner: load command {} names function {}, the table has {}", command.command_id,
                  command.arg0, table_.size());
    return {false, false, ipc::ControlResult::kBadFunction, {}};  // nothing touched: still waiting
  }
  const auto index = static_cast<std::uint32_t>(command.arg0);
  const ipc::FunctionTableEntry& f = table_[index];
  if (loading) loading(index);
  if (op == ipc::ControlOp::kBoot) {
    spdlog::info("firerunner: boot of function {} ({}): starting the --kernel", index, f.name);
    return {true, false, ipc::ControlResult::kOk, {}};
  }
  if (f.snapshot_dirs.empty()) {
    spdlog::error("firerunner: restore of function {} ({}): it has no snapshot", index, f.name);
    return {false, false, ipc::ControlResult::kNoSnapshot, {}};
  }
  std::optional<snapshot::LoadedSnapshot> loaded;
  if (index < preloaded_.size()) loaded = std::exchange(preloaded_[index], std::nullopt);
  for (const std::string& dir : f.snapshot_dirs) {
    if (!loaded && !std::filesystem::is_directory(dir)) {
      spdlog::error("firerunner: restore of function {} ({}): snapshot directory {} missing", index, f.name, dir);
      return {false, false, ipc::ControlResult::kNoSnapshot, {}};  // checked before touching the VM
    }
  }
  snapshot::AppImage appfs;
  if (!f.appfs.empty()) {
    if (index >= kMaxPreloaded || !appfs_[index]) {
      const std::string why = index >= kMaxPreloaded ? "beyond the " + std::to_string(kMaxPreloaded) +
                                                           " functions a runner opens at start"
                                                     : appfs_error_[index];
      std::fprintf(stderr, "firerunner: restore of function %u (%s) failed: %s\n", index, f.name.c_str(), why.c_str());
      return {false, false, ipc::ControlResult::kLoadFailed, {}};  // nothing touched: still waiting
    }
    appfs = {f.appfs, appfs_[index].get()};
  }
  snapshot::RestoreOptions options;
  options.eager_base = (command.arg1 & ipc::kLoadCopyBase) != 0;
  options.eager_diff = (command.arg1 & ipc::kLoadCopyDiff) != 0;
  try {
    const auto t0 = Clock::now();
    const snapshot::SnapshotId id =
        loaded ? snapshot::restore_vmm(vmm, std::move(*loaded), options, /*dirty_logging=*/false, appfs, &prepared_)
               : snapshot::restore_vmm(vmm, snapshot::load_snapshot(f.snapshot_dirs, verify_), options,
                                         /*dirty_logging=*/false, appfs, &prepared_);
    spdlog::info("firerunner: restored function {} ({}) in {:.3f} ms", index, f.name, ms_since(t0));
    return {true, false, ipc::ControlResult::kOk, id};
  } catch (const std::exception& e) {
    // One clear line on stderr whatever the log level: the supervisor's log keeps it.
    std::fprintf(stderr, "firerunner: restore of function %u (%s) failed: %s\n", index, f.name.c_str(), e.what());
    return {false, true, ipc::ControlResult::kLoadFailed, {}};
  }
}

}  // namespace snapfaas::runner
