// FunctionLoader: a pre-spawned firerunner's functions (the supervisor's table,
// ipc/function_table.h) and how one load command (ControlOp::kRestore / kBoot, arg0 = table index,
// arg1 = ipc load flags) is applied to the VM. Every file a function needs is opened at create,
// before the runner locks itself down (it may open nothing afterwards); the snapshot layers are
// read and validated ahead (preload), after lock-down, so a cold start costs only the restore proper.
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
  /// Every function of the table is opened and loaded ahead (each holds a few fds: RLIMIT_NOFILE);
  /// a table holds at most this many (ipc/function_table.h refuses more).
  static constexpr std::size_t kMaxPreloaded = ipc::kMaxTableFunctions;

  /// Create step: opens (reads nothing from) each function's snapshot files and app image, the
  /// latter read-only (O_DIRECT with `direct_io`); a restore attaches the image by descriptor. A
  /// file that cannot be opened is logged, and that function's load answers kNoSnapshot (snapshot
  /// files) or kLoadFailed (app image). `verify`: how much of each snapshot file load_snapshot
  /// checks (kFull: --verify_memory).
  FunctionLoader(std::vector<ipc::FunctionTableEntry> table, bool direct_io,
                 snapshot::Verify verify = snapshot::Verify::kHeader);

  [[nodiscard]] const std::vector<ipc::FunctionTableEntry>& table() const noexcept { return table_; }
  /// Reads and validates every function's opened snapshot layers (a failure is logged; that
  /// function's restore answers kLoadFailed with the reason). For ring-3 VMs whose functions all
  /// restore snapshots (a kBoot must find the --kernel untouched), also prepares the restore of
  /// the first one that maps its base (prepare_vmm). Reads guest-produced files: call after
  /// lock-down.
  void preload(Vmm& vmm);
  /// Applies `command` to `vmm`. `loading` (tests) runs first for a valid function index.
  [[nodiscard]] LoadOutcome load(Vmm& vmm, const ipc::ControlCommand& command,
                                 const std::function<void(std::uint32_t)>& loading);
  [[nodiscard]] bool prepared() const noexcept { return prepared_.valid; }

 private:
  std::vector<ipc::FunctionTableEntry> table_;
  snapshot::Verify verify_;
  // By table index, for the first kMaxPreloaded functions:
  std::vector<common::UniqueFd> appfs_;                             // app image (invalid: none, or failed)
  std::vector<std::optional<snapshot::SnapshotFiles>> files_;       // opened at create, until preload
  std::vector<std::optional<snapshot::LoadedSnapshot>> preloaded_;  // validated by preload, until the load
  std::vector<bool> missing_;                                       // a snapshot file could not be opened
  std::vector<std::string> errors_;                                 // why a file could not be opened or read
  snapshot::PreparedRestore prepared_;
};

}  // namespace snapfaas::runner
