// Snapshots of a running Vmm: restore a built-but-not-started Vmm from snapshot directories, and
// the SnapshotTrigger that saves one at the guest's snapshot point (the ring-3 SnapshotPort on the
// Vmm's PIO bus or the agent's SNAPSHOT_POINT doorbell, then a saver thread that pauses every vCPU,
// completes pending I/O, captures state and writes DIR/{memory,state}).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>

#include "runner/snapshot/device_snapshot.h"
#include "runner/snapshot/restore_target.h"
#include "runner/snapshot/snapshot_port.h"
#include "runner/vmm.h"

namespace snapfaas::runner::snapshot {

/// Loads `dirs` (base[,diff...]) and restores them into `vmm` before vmm.run(): memory mapped over
/// the registered RAM, VM, vCPU and device state applied (restore_devices: `appfs`
/// backs the app disk when non-empty). `dirty_logging`: the Vmm registered its RAM with
/// KVM_MEM_LOG_DIRTY_PAGES (needed to take a diff later). Returns the id of the last layer.
/// `prepared` (optional): from prepare_vmm on this Vmm; consumed.
SnapshotId restore_vmm(Vmm& vmm, std::span<const std::string> dirs, const RestoreOptions& options,
                       bool dirty_logging, const AppImage& appfs = {},
                       PreparedRestore* prepared = nullptr);

/// The same with the layers loaded and validated ahead of time (load_snapshot; a pre-spawned
/// runner loads its functions' snapshots before any request: ~1 ms each). Consumes `snap`.
SnapshotId restore_vmm(Vmm& vmm, LoadedSnapshot snap, const RestoreOptions& options, bool dirty_logging,
                       const AppImage& appfs = {}, PreparedRestore* prepared = nullptr);

/// Pre-spawn work for a later restore_vmm of a snapshot with the same base as `candidate_dirs`
/// (prepare_restore: files validated, base mapped, vCPUs entered once and state set ahead), on a
/// Vmm whose vCPUs have not run. Throws common::Error.
[[nodiscard]] PreparedRestore prepare_vmm(Vmm& vmm, std::span<const std::string> candidate_dirs,
                                          const PrepareOptions& options);
/// The same with the candidate loaded already; the caller keeps it for the restore (its vCPU
/// state gets the host's TR fix-up, as restore_vmm would apply).
[[nodiscard]] PreparedRestore prepare_vmm(Vmm& vmm, LoadedSnapshot& candidate, const PrepareOptions& options);

/// What a SnapshotTrigger does at the guest's snapshot point.
struct SnapshotTriggerOptions {
  std::string out_dir;                ///< write the snapshot here; empty: answer without saving
  std::optional<SnapshotId> base;     ///< the VM was restored from this: save a diff on top of it
  bool restored = false;              ///< the VM was restored (the ring-3 port answers RESTORED)
  bool ring3_port = true;             ///< place the ring-3 guests' SnapshotPort on the PIO bus
};

/// Saves one Vmm at its guest's snapshot point (ipc::SnapshotPoint codes). Two ways in: ring-3
/// test guests write the SnapshotPort (SNAPFAAS_PORT_SNAPSHOT), the guest agent writes the ring
/// window's SNAPSHOT_POINT doorbell (ipc/guest_abi.h), which calls request(). Built in two steps
/// by a runner: at create (the output directory opened, the saver thread started and filtered
/// before anything else happens on it), and arm() once the load said what the VM is.
class SnapshotTrigger {
 public:
  /// Both steps at once (before vmm.run()): `options.out_dir` is created if needed.
  SnapshotTrigger(Vmm& vmm, SnapshotTriggerOptions options);
  /// Create step: with `out_dir`, reads the host's saveable MSR list (it opens /dev/kvm once) and
  /// starts the saver thread, which runs `saver_thread_init` (e.g. installs its seccomp program)
  /// and then waits. Without one, no thread. Destroy after vmm.run() returns.
  SnapshotTrigger(Vmm& vmm, std::optional<SnapshotDir> out_dir, std::function<void()> saver_thread_init);
  ~SnapshotTrigger();
  SnapshotTrigger(const SnapshotTrigger&) = delete;
  SnapshotTrigger& operator=(const SnapshotTrigger&) = delete;

  /// Load step (before the vCPUs run): `base` set: save a diff on top of it; `restored`: the
  /// ring-3 port answers RESTORED; `ring3_port`: place the SnapshotPort on the Vmm's PIO bus.
  void arm(std::optional<SnapshotId> base, bool restored, bool ring3_port);

  /// The agent's SNAPSHOT_POINT (on the writing vCPU's thread): `point` 1 (base) is saved by a
  /// booted VM, 2 (diff) by a restored one (the seed's --dump_dir rule); any other point, or no
  /// output directory, lets the guest go on. On a save the requesting vCPU parks right after its
  /// port write and the saver thread pauses every vCPU, completes pending I/O, captures state,
  /// writes the snapshot (a diff on top of `base` when set, else a full one; Linux device state
  /// included), prints "Snapshot generation succeeds" and stops the VM (exit status 0).
  void request(std::uint32_t point) noexcept;

 private:
  void wake_saver() noexcept;
  void saver_main(const std::function<void()>& thread_init) noexcept;
  void save();

  Vmm& vmm_;
  std::optional<SnapshotDir> out_dir_;
  std::shared_ptr<SnapshotPort> port_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::optional<SnapshotId> base_;  // guarded by mutex_ (set by arm, read by the saver)
  bool requested_ = false;  // guarded by mutex_
  bool quit_ = false;       // guarded by mutex_
  std::thread saver_;
};

}  // namespace snapfaas::runner::snapshot
