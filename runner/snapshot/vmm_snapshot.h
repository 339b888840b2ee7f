// Snapshots of a running Vmm: restore a built-but-not-started Vmm from snapshot directories, and
// the ring-3 snapshot point (SnapshotPort on the Vmm's PIO bus + a saver thread that pauses every
// vCPU, completes pending I/O, captures state and writes DIR/{memory,state}).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>

#include "runner/snapshot/restore_target.h"
#include "runner/snapshot/snapshot_port.h"
#include "runner/vmm.h"

namespace snapfaas::runner::snapshot {

/// Loads `dirs` (base[,diff...]) and restores them into `vmm` before vmm.run(): memory mapped over
/// the registered RAM, VM and vCPU state applied. `dirty_logging`: the Vmm registered its RAM with
/// KVM_MEM_LOG_DIRTY_PAGES (needed to take a diff later). Returns the id of the last layer.
/// Device state of Linux guests is not restored here (the Vmm does not expose its devices).
SnapshotId restore_vmm(Vmm& vmm, std::span<const std::string> dirs, const RestoreOptions& options,
                       bool dirty_logging);

/// The ring-3 snapshot point of one Vmm. Construct before vmm.run(); destroy after it returns.
class SnapshotPoint {
 public:
  /// Places a SnapshotPort at SNAPFAAS_PORT_SNAPSHOT on vmm.pio(). On a guest request, the saver
  /// thread writes a snapshot to `out_dir` (a diff on top of `base` when set, else a full one),
  /// prints "Snapshot generation succeeds", and then stops the VM (`exit_after`) or resumes it.
  /// An empty `out_dir` answers requests without saving.
  /// `restored`: the VM was restored (the port answers RESTORED until the next request).
  SnapshotPoint(Vmm& vmm, std::string out_dir, std::optional<SnapshotId> base, bool restored, bool exit_after);
  ~SnapshotPoint();
  SnapshotPoint(const SnapshotPoint&) = delete;
  SnapshotPoint& operator=(const SnapshotPoint&) = delete;

 private:
  void saver_main() noexcept;
  void save();

  Vmm& vmm_;
  std::string out_dir_;
  std::optional<SnapshotId> base_;
  bool exit_after_;
  std::shared_ptr<SnapshotPort> port_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool requested_ = false;  // guarded by mutex_
  bool quit_ = false;       // guarded by mutex_
  std::thread saver_;
};

}  // namespace snapfaas::runner::snapshot
