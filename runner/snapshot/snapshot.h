// Snapshot directories: DIR/state (MicrovmState) + DIR/memory (full or diff) [+ DIR/working_set].
// save_snapshot writes one; load_snapshot opens and validates a chain base[,diff...] before any
// live object is built.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "runner/kvm/kvm_vcpu.h"
#include "runner/kvm/kvm_vm.h"
#include "runner/memory/guest_memory.h"
#include "runner/snapshot/microvm_state.h"
#include "runner/snapshot/snapshot_file.h"

namespace snapfaas::runner::snapshot {

inline constexpr const char* kStateFileName = "state";
inline constexpr const char* kMemoryFileName = "memory";
inline constexpr const char* kWorkingSetFileName = "working_set";

/// Completes each vCPU's pending I/O (RIP past the exiting instruction) and captures vCPU and VM
/// state plus the RAM layout. Every vCPU must be paused (outside KVM_RUN). Device states are the
/// caller's to fill in. Throws common::Error.
[[nodiscard]] MicrovmState capture_microvm(const KvmVm& vm, const GuestMemory& memory,
                                           std::span<KvmVcpu* const> vcpus, bool ring3);

struct SavedSnapshot {
  SnapshotId id{};
  SnapshotId base_id{};             ///< zero for a base
  std::vector<PageRange> ranges;    ///< what the memory file holds
};

/// Writes DIR/memory then DIR/state (each atomically; the state file, written last, is what makes
/// the directory a snapshot) and removes a stale DIR/working_set, all relative to `dir`'s
/// descriptor. `base` empty: full memory (non-zero pages). `base` set: a diff of the pages KVM
/// logged dirty since the last dirty-log read (memslots need KVM_MEM_LOG_DIRTY_PAGES) plus `extra`.
/// Throws common::Error.
SavedSnapshot save_snapshot(const SnapshotDir& dir, const MicrovmState& state, const KvmVm& vm,
                            const GuestMemory& memory, const std::optional<SnapshotId>& base,
                            std::span<const PageRange> extra = {});
/// The same into `dir`, created if needed.
SavedSnapshot save_snapshot(const std::string& dir, const MicrovmState& state, const KvmVm& vm,
                            const GuestMemory& memory, const std::optional<SnapshotId>& base,
                            std::span<const PageRange> extra = {});

/// A validated chain, ready to restore. The state is the last layer's.
struct LoadedSnapshot {
  MicrovmState state;
  std::vector<SnapshotFile> memory;   ///< base first
  std::vector<PageRange> working_set; ///< from the working-set file, if any and valid
  /// Why a working-set file that was there is not used (corrupt, truncated, another snapshot's):
  /// a restore goes on without prefetch. Empty: none, or a valid one.
  std::string working_set_error;
};

/// A chain's files opened, nothing read yet: DIR/memory of every layer, the last layer's
/// DIR/state and its working set (DIR/working_set if there is one, or an explicit file). A runner
/// opens them before it locks itself down; load_snapshot reads and validates them afterwards.
struct SnapshotFiles {
  std::vector<OpenedFile> memory;  ///< base first
  OpenedFile state;
  std::optional<OpenedFile> working_set;
};

/// Opens the files of dirs[0] (a base) and dirs[1..] (diffs), and the working set: `working_set`
/// when given (it must exist: fc_wrapper --load_ws), else the last dir's working_set if present.
/// Throws common::Error naming a file that cannot be opened.
[[nodiscard]] SnapshotFiles open_snapshot_files(std::span<const std::string> dirs,
                                                const std::string& working_set = {});
/// Validates and reads a chain opened by open_snapshot_files: every file validated
/// (Verify::kFull also CRC-checks memory payloads), ids chained (each diff made from the layer
/// before), state decoded and checked against the memory files. Consumes the descriptors (the
/// memory ones move into the result). Throws common::Error naming the file and the problem. A
/// working set that fails validate_working_set does not fail the load: its reason goes to
/// LoadedSnapshot::working_set_error.
[[nodiscard]] LoadedSnapshot load_snapshot(SnapshotFiles files, Verify verify = Verify::kHeader);
/// open_snapshot_files + load_snapshot.
[[nodiscard]] LoadedSnapshot load_snapshot(std::span<const std::string> dirs, Verify verify = Verify::kHeader);

/// Writes DIR/working_set: the page ranges to prefetch on later restores of DIR. Atomic.
void save_working_set(const std::string& dir, const SnapshotId& id, std::span<const PageRange> ranges);
/// The same as DIR/name, by the directory's descriptor (a runner's saver, after lock-down).
void save_working_set(const SnapshotDir& dir, const char* name, const SnapshotId& id,
                      std::span<const PageRange> ranges);

/// A working-set file (FileKind::kWorkingSet, the snapshot container: magic, version, length,
/// header and payload CRC, sorted page-aligned ranges) validated for the snapshot `id` restored
/// into `guest_bytes` of RAM: its id must be `id` and every range inside the RAM. Takes the
/// descriptor. Throws common::Error "snapshot PATH: <what is wrong>".
[[nodiscard]] std::vector<PageRange> validate_working_set(OpenedFile file, const SnapshotId& id,
                                                          std::uint64_t guest_bytes);

}  // namespace snapfaas::runner::snapshot
