// A pre-spawned runner's functions and their loads (see function_loader.h).
#include "runner/function_loader.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <utility>

#include "common/error.h"
#include "runner/snapshot/vmm_snapshot.h"
#include "runner/snapshot/working_set.h"

namespace snapfaas::runner {
namespace {

using Clock = std::chrono::steady_clock;

[[nodiscard]] double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

}  // namespace

FunctionLoader::FunctionLoader(std::vector<ipc::FunctionTableEntry> table, bool direct_io, snapshot::Verify verify)
    : table_(std::move(table)),
      verify_(verify),
      appfs_(table_.size()),
      files_(table_.size()),
      preloaded_(table_.size()),
      missing_(table_.size(), false),
      errors_(table_.size()) {
  for (std::size_t i = 0; i < table_.size() && i < kMaxPreloaded; ++i) {
    const ipc::FunctionTableEntry& f = table_[i];
    if (!f.snapshot_dirs.empty()) {
      try {
        files_[i] = snapshot::open_snapshot_files(f.snapshot_dirs);
      } catch (const std::exception& e) {
        missing_[i] = true;
        errors_[i] = e.what();
        spdlog::warn("firerunner: function {} ({}): {}", i, f.name, errors_[i]);
        continue;
      }
    }
    if (!f.appfs.empty()) {
      appfs_[i].reset(::open(f.appfs.c_str(), O_RDONLY | O_CLOEXEC | (direct_io ? O_DIRECT : 0)));
      if (!appfs_[i]) {
        errors_[i] = "open app image " + f.appfs + ": " + std::strerror(errno);
        spdlog::warn("firerunner: function {} ({}): {}", i, f.name, errors_[i]);
      }
    }
  }
}

void FunctionLoader::preload(Vmm& vmm) {
  for (std::size_t i = 0; i < table_.size() && i < kMaxPreloaded; ++i) {
    if (!files_[i]) continue;
    try {
      preloaded_[i] = snapshot::load_snapshot(std::move(*files_[i]), verify_);
      // A snapshot brings back the vCPUs it was taken with: a function whose `vcpus` differs is
      // refused here, with the reason, before its restore could touch the VM.
      if (preloaded_[i]->state.vcpu_count != vmm.vcpu_count()) {
        const std::uint32_t taken = preloaded_[i]->state.vcpu_count;
        preloaded_[i].reset();
        throw common::Error("the snapshot was taken with " + std::to_string(taken) + " vCPUs, this function's VM has " +
                            std::to_string(vmm.vcpu_count()) + ": its vcpus must equal the snapshot's");
      }
    } catch (const std::exception& e) {  // its restore answers kLoadFailed with this reason
      errors_[i] = e.what();
      spdlog::warn("firerunner: snapshot of function {} ({}) not loaded: {}", i, table_[i].name, errors_[i]);
    }
    files_[i].reset();
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
    if (!vmm.config().place_kernel) {  // every function of the table restores: the --kernel was not placed
      spdlog::error("firerunner: boot of function {} ({}): this runner's table has no booting function", index, f.name);
      return {false, false, ipc::ControlResult::kUnsupported, {}};
    }
    // A regular boot (no snapshot): the function's app image becomes /dev/vdb of the --kernel's VM.
    if (!f.appfs.empty()) {
      if (index >= kMaxPreloaded || !appfs_[index]) {
        std::fprintf(stderr, "firerunner: boot of function %u (%s) failed: %s\n", index, f.name.c_str(),
                     index >= kMaxPreloaded ? "beyond the functions a runner opens at start" : errors_[index].c_str());
        return {false, false, ipc::ControlResult::kLoadFailed, {}};
      }
      try {
        common::UniqueFd image(::fcntl(appfs_[index].get(), F_DUPFD_CLOEXEC, 0));
        if (!image) throw common::sys_error("app image " + f.appfs + ": dup");
        vmm.attach_app_disk(std::move(image), f.appfs);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "firerunner: boot of function %u (%s) failed: %s\n", index, f.name.c_str(), e.what());
        return {false, true, ipc::ControlResult::kLoadFailed, {}};
      }
    }
    spdlog::info("firerunner: boot of function {} ({}): starting the --kernel", index, f.name);
    return {true, false, ipc::ControlResult::kOk, {}};
  }
  if (f.snapshot_dirs.empty()) {
    spdlog::error("firerunner: restore of function {} ({}): it has no snapshot", index, f.name);
    return {false, false, ipc::ControlResult::kNoSnapshot, {}};
  }
  // Everything is checked before the VM is touched: a refused load leaves it waiting.
  const bool beyond = index >= kMaxPreloaded;
  std::optional<snapshot::LoadedSnapshot> loaded;
  if (!beyond) loaded = std::exchange(preloaded_[index], std::nullopt);
  const bool no_image = !beyond && !f.appfs.empty() && !appfs_[index];
  if (!loaded || no_image) {
    const std::string why = beyond ? "beyond the " + std::to_string(kMaxPreloaded) + " functions a runner opens at start"
                            : errors_[index].empty() ? "its snapshot was used already (a runner loads one function)"
                                                     : errors_[index];
    // One clear line on stderr whatever the log level: the supervisor's log keeps it.
    std::fprintf(stderr, "firerunner: restore of function %u (%s) failed: %s\n", index, f.name.c_str(), why.c_str());
    const bool missing = !beyond && missing_[index];
    return {false, false, missing ? ipc::ControlResult::kNoSnapshot : ipc::ControlResult::kLoadFailed, {}};
  }
  snapshot::AppImage appfs;
  if (!f.appfs.empty()) appfs = {f.appfs, appfs_[index].get()};
  snapshot::RestoreOptions options;
  options.eager_base = (command.arg1 & ipc::kLoadCopyBase) != 0;
  options.eager_diff = (command.arg1 & ipc::kLoadCopyDiff) != 0;
  options.prefetch_working_set = (command.arg1 & ipc::kLoadWorkingSet) != 0 &&
                                 snapshot::working_set_usable(*loaded, "function " + f.name);
  try {
    const auto t0 = Clock::now();
    const snapshot::SnapshotId id =
        snapshot::restore_vmm(vmm, std::move(*loaded), options, /*dirty_logging=*/false, appfs, &prepared_);
    spdlog::info("firerunner: restored function {} ({}) in {:.3f} ms", index, f.name, ms_since(t0));
    return {true, false, ipc::ControlResult::kOk, id};
  } catch (const std::exception& e) {
    // One clear line on stderr whatever the log level: the supervisor's log keeps it.
    std::fprintf(stderr, "firerunner: restore of function %u (%s) failed: %s\n", index, f.name.c_str(), e.what());
    return {false, true, ipc::ControlResult::kLoadFailed, {}};
  }
}

}  // namespace snapfaas::runner
