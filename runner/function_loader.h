// FunctionLoader: a pre-spawned firerunner's functions (the supervisor's table,
// ipc/function_table.h) and how one load command (ControlOp::kRestore / kBoot, arg0 = table index,
// arg1 = ipc load flags) is applied to the VM. Snapshot layers are loaded and validated ahead
// (preload), after the runner locked itself down, so a cold start costs only the restore proper.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "common/unique_fd.h"
#include "ipc/channel_layout.h"
#include "ipc/function_table.h"
#include "runner/snapshot/restore_target.h"
#include "runner/snapshot/snapshot.h"
#include "runner/vmm.h"

namespace snapfaas::runner {

/// What one load command did.
struct LoadOutcome {
  bool run = false;     ///< the VM holds the function: start the vCPUs
  bool failed = false;  ///< the VM may be half-restored: reply, then exit (never reused)
  ipc::ControlResult result = ipc::ControlResult::kOk;  ///< the reply status
  std::optional<snapshot::SnapshotId> base;             ///< the restored snapshot (restores)
};

/// VMM thread only.
class FunctionLoader {
 public:
  /// At most this many functions are loaded ahead (each holds an fd per layer; RLIMIT_NOFILE).
  static constexpr std::size_t kMaxPreloaded = 128;

  /// Opens (does not read) each function's app image, read-only (O_DIRECT with `direct_io`): at
  /// create, before the runner locks itself down; a restore attaches it by descriptor. An image
  /// that cannot be opened is logged, and that function's restore answers kLoadFailed.
  /// `verify`: how much of each snapshot file load_snapshot checks (kFull: --verify_memory).
  FunctionLoader(std::vector<ipc::FunctionTableEntry> table, bool direct_io,
                 snapshot::Verify verify = snapshot::Verify::kHeader);

  [[nodiscard]] const std::vector<ipc::FunctionTableEntry>& table() const noexcept { return table_; }
  /// Loads and validates every function's snapshot layers (a failure is logged; that function's
  /// restore loads it again and fails with the reason). For ring-3 VMs whose functions all restore
  /// snapshots (a kBoot must find the --kernel untouched), also prepares the restore of the first
  /// one that maps its base (prepare_vmm). Touches snapshot files: call after lock-down.
  void preload(Vmm& vmm);
  /// Applies `command` to `vmm`. `loading` (tests) runs first for a valid function index.
  [[nodiscard]] LoadOutcome load(Vmm& vmm, const ipc::ControlCommand& command,
                                 const std::function<void(std::uint32_t)>& loading);
  [[nodiscard]] bool prepared() const noexcept { return prepared_.valid; }

 private:
  std::vector<ipc::FunctionTableEntry> table_;
  snapshot::Verify verify_;
  std::vector<common::UniqueFd> appfs_;        // by table index (invalid: none, or see appfs_error_)
  std::vector<std::string> appfs_error_;       // by table index: why the image could not be opened
  std::vector<std::optional<snapshot::LoadedSnapshot>> preloaded_;  // by table index
  snapshot::PreparedRestore prepared_;
};

}  // namespace snapfaas::runner
