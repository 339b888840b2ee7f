// RunnerLifecycle: one firerunner's life, in one fixed order for every mode — boot the --kernel,
// restore --load_dir layers, or (pre-spawned) wait for the supervisor's load command:
//   1. create (the constructor): the KVM VM with its RAM memslots, irqchip, vCPUs and devices from
//      the command line (the --kernel and the disk images are the operator's files), the ring
//      window, the seccomp programs compiled; every file the runner will use opened (snapshot
//      layers, app images, the --dump_dir directory), none of a snapshot's read yet; with
//      --dump_dir the saver thread starts under its own program (the one role that writes files);
//   2. lock_down(): the VMM program on this thread (every thread created later inherits it); the
//      vCPU threads start parked and virtio-net's receive thread starts, each adding its own
//      program before anything else, as does the window's control thread; no file can be opened
//      from here on;
//   3. load(): only now is snapshot data (which a guest produced) read: layers validated and
//      restored — or, pre-spawned, every function's layers loaded ahead, then the supervisor's
//      kRestore/kBoot applied and answered;
//   4. run(): the vCPUs are released; returns the process exit status.
// Calling a phase out of order throws std::logic_error. VMM (main) thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/runner_command.h"
#include "runner/function_loader.h"
#include "runner/seccomp/seccomp_filter.h"
#include "runner/snapshot/restore_target.h"
#include "runner/snapshot/vmm_snapshot.h"
#include "runner/vmm.h"
#include "runner/vmm_config.h"
#include "runner/window/window_service.h"
#include "runner/working_set_dumper.h"

namespace snapfaas::runner {

enum class RunnerMode {
  kBoot,        ///< start the --kernel
  kRestore,     ///< restore snapshot_dirs, then run
  kPrespawned,  ///< wait on the channel for the supervisor's kRestore/kBoot of a table function
};

/// What one firerunner does (named values, from its command line).
struct RunnerOptions {
  VmmConfig vmm;
  RunnerMode mode = RunnerMode::kBoot;
  std::string channel;                     ///< serve this ipc channel through the ring window ("": none)
  bool allow_writable_header = false;      ///< the window's header page may be writable if KVM refuses read-only
  SeccompSettings seccomp;
  std::vector<std::string> snapshot_dirs;  ///< kRestore: base[,diff...]
  snapshot::RestoreOptions restore;        ///< kRestore: eager copies of the layers
  bool verify_memory = false;              ///< CRC-check every memory layer when it is loaded
  std::string dump_dir;                    ///< kBoot/kRestore: save at the guest's snapshot point and exit
  std::string dump_ws;                     ///< kRestore: record the working set here on kDumpWorkingSet
  std::string load_ws;                     ///< kRestore: prefetch this working set (else none)
  std::string functions_file;              ///< kPrespawned: the supervisor's table (ipc/function_table.h)

  /// From firerunner's command line. Throws common::Error for flags that do not go together.
  [[nodiscard]] static RunnerOptions from_command(const common::RunnerCommand& command);
};

/// Test seams (tests/runner/hooked_firerunner.cpp); the production firerunner sets none.
struct RunnerHooks {
  std::function<void()> locked_down;             ///< at the end of lock_down (the VMM program installed)
  std::function<void(std::uint32_t)> loading;    ///< kPrespawned: a load of this table index arrived
};

class RunnerLifecycle {
 public:
  /// Create. Throws common::Error naming the failing step.
  explicit RunnerLifecycle(RunnerOptions options, RunnerHooks hooks = {});
  ~RunnerLifecycle();
  RunnerLifecycle(const RunnerLifecycle&) = delete;
  RunnerLifecycle& operator=(const RunnerLifecycle&) = delete;

  /// Lock down: installs the filters (see the file comment).
  void lock_down();
  /// Load. False when the supervisor asked for a shutdown before any load (exit 0). Throws
  /// common::Error when the VM cannot be loaded (pre-spawned: after answering kLoadFailed).
  [[nodiscard]] bool load();
  /// Run: releases the vCPUs and waits for the VM's end; its exit status.
  [[nodiscard]] int run();

  /// The whole life in order: lock_down, load, run. The process exit status.
  [[nodiscard]] int run_all();

  [[nodiscard]] Vmm& vmm() noexcept { return *vmm_; }

 private:
  enum class Phase { kCreated, kLockedDown, kLoaded, kRunning };
  void expect(Phase phase, const char* step) const;
  [[nodiscard]] bool load_prespawned();
  [[nodiscard]] snapshot::Verify verify() const noexcept {
    return options_.verify_memory ? snapshot::Verify::kFull : snapshot::Verify::kHeader;
  }

  RunnerOptions options_;
  RunnerHooks hooks_;
  Phase phase_ = Phase::kCreated;
  std::chrono::steady_clock::time_point created_;
  std::unique_ptr<Vmm> vmm_;
  std::unique_ptr<window::WindowService> window_;
  CompiledSeccomp vmm_filter_;
  CompiledSeccomp vcpu_filter_;
  CompiledSeccomp net_rx_filter_;
  std::optional<FunctionLoader> functions_;       // kPrespawned
  std::optional<snapshot::SnapshotFiles> restore_files_;  // kRestore: opened at create, read by load()
  std::optional<snapshot::SnapshotId> restored_;  // the snapshot loaded, if any
  std::optional<snapshot::SnapshotTrigger> trigger_;
  std::unique_ptr<WorkingSetDumper> ws_dumper_;   // --dump_ws
};

/// firerunner's main() after parsing: logging set up, the whole life run, errors as one line on
/// stderr. The process exit status.
[[nodiscard]] int run_firerunner(const common::RunnerCommand& command, RunnerHooks hooks = {});

}  // namespace snapfaas::runner
