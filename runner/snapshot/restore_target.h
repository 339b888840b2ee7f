// RestoreTarget: a VM built ahead of a restore — KVM VM, guest RAM registered as memslots (with
// dirty logging, so a diff can be taken later), optional irqchip, vCPUs with CPUID set — and the
// restore into it: map memory layers over the registered RAM, then set VM and vCPU state.
// prepare_restore() does the request-independent part of a restore at pre-spawn time.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "runner/kvm/kvm_system.h"
#include "runner/kvm/kvm_vcpu.h"
#include "runner/kvm/kvm_vm.h"
#include "runner/memory/guest_memory.h"
#include "runner/snapshot/memory_restore.h"
#include "runner/snapshot/snapshot.h"
#include "runner/snapshot/vcpu_state.h"

namespace snapfaas::runner::snapshot {

struct RestoreOptions {
  bool eager_base = false;          ///< read the base into anonymous memory (--copy_base)
  bool eager_diff = false;          ///< read diffs into anonymous memory (--copy_diff)
  bool prefetch_working_set = false;  ///< MADV_POPULATE_READ the saved working set
};

/// Where the time of one restore went (milliseconds, steady clock).
struct RestoreTimings {
  double memory_ms = 0;
  double vm_state_ms = 0;
  double vcpu_state_ms = 0;
  double prefetch_ms = 0;
  double flush_ms = 0;       ///< re-registering the RAM memslots of a VM that had run (see flush_shadow_mmu)
  double dirty_log_ms = 0;   ///< clearing the dirty log
  MemoryRestoreStats memory;
  VcpuApplyStats vcpu;       ///< per-ioctl breakdown of vcpu_state_ms
  std::uint64_t prefetched_pages = 0;
  std::size_t layers_premapped = 0;  ///< memory layers already in place from prepare_restore
};

/// What prepare_restore does ahead of the request.
struct PrepareOptions {
  /// Enter every vCPU once with a two-byte ring-3 warm-up guest (`out` to port 0x80) and complete
  /// that exit, so that KVM's first-entry work for the vCPU is paid before the request; then
  /// flush_shadow_mmu so no shadow page built by the warm-up survives into the restored guest.
  bool enter_vcpus = true;
  /// Map the base layer (the runtime snapshot every function's diff sits on) over guest RAM.
  bool map_base = true;
  bool eager_base = false;  ///< map_base reads the base into anonymous memory instead
};

/// What a pre-spawned VM holds ahead of a request (plain values). Valid only while nothing has run
/// a vCPU, set vCPU state or written guest RAM since prepare_restore: the caller guarantees that
/// (RestoreTarget does, by dropping it whenever it hands out its vCPUs, VM or RAM).
struct PreparedRestore {
  bool valid = false;
  bool base_mapped = false;
  bool base_eager = false;
  SnapshotId base_id{};
  std::vector<VcpuState> vcpus;  ///< each vCPU's state read back after the preparation
};

/// Re-registers RAM memslots 0..n-1 (delete, then add with the same flags). KVM drops every shadow
/// page with the slots. Needed before a VM whose vCPUs have run is restored again on a host with
/// shadow paging (PVM here): KVM's MMU notifier zaps the mappings of remapped guest pages but not
/// the shadow copies of guest page tables, so a guest could keep translating through the old
/// snapshot's page tables. Costs ~0.05 ms per 128 MiB slot without an irqchip, ~7 ms with one.
void flush_shadow_mmu(KvmVm& vm, const GuestMemory& memory, bool dirty_logging);

/// Pre-spawn work for a VM built like restore_into expects (never run, or run and then flushed by
/// this call): optionally enters each vCPU once and flushes the shadow MMU; maps the base layer of
/// `candidate` (a loaded snapshot of one of the functions this VM may serve: they share the base);
/// sets the candidate's vCPU state (so that a restore of it, or of another function on the same
/// base, finds most of it in place, and the MSRs this KVM rejects are learned ahead); and reads the
/// vCPUs' state back so that restore_into skips re-setting parts already in place. Throws
/// common::Error (a vCPU count mismatch included).
[[nodiscard]] PreparedRestore prepare_restore(KvmVm& vm, const GuestMemory& memory,
                                              std::span<KvmVcpu* const> vcpus, const LoadedSnapshot& candidate,
                                              const PrepareOptions& options, bool dirty_logging);

/// Restores `snap` into an existing VM whose RAM `memory` is registered as memslots 0..n-1 and
/// whose vCPUs exist with CPUID set: validates vCPU count, RAM layout, irqchip and the memory chain
/// before changing anything, then maps memory and applies VM and vCPU state. `dirty_logging`: the
/// slots log dirty pages; the log is cleared so a later diff holds only pages written after this.
/// `prepared` (optional, consumed: valid is false afterwards): from prepare_restore on this VM; its
/// base mapping is reused when `snap` has that base with the same eager option, and vCPU state
/// parts already in place are not set again.
RestoreTimings restore_into(KvmVm& vm, const GuestMemory& memory, std::span<KvmVcpu* const> vcpus,
                            const LoadedSnapshot& snap, const RestoreOptions& options, bool dirty_logging,
                            PreparedRestore* prepared = nullptr);

/// Owns the live VM. Built and restored on one thread; afterwards the caller runs the vCPUs.
class RestoreTarget {
 public:
  /// Creates the VM: RAM for `mem_bytes` (guest_layout ranges) registered with
  /// KVM_MEM_LOG_DIRTY_PAGES before the irqchip (the fast order), then `vcpu_count` vCPUs with
  /// normalised CPUID. Throws common::Error.
  static RestoreTarget create(const KvmSystem& kvm, std::uint64_t mem_bytes, std::uint32_t vcpu_count, bool irqchip);

  /// Validates `snap` against this VM (vCPU count, RAM layout, irqchip, memory chain) before
  /// changing anything, then maps memory and applies VM and vCPU state. Clears the dirty log so a
  /// later diff holds only pages written after the restore. Uses what prepare() did when it still
  /// holds; restoring a VM whose vCPUs were handed out since create()/prepare() (they may have run)
  /// flushes the shadow MMU first (flush_shadow_mmu). Throws common::Error.
  RestoreTimings restore(const LoadedSnapshot& snap, const RestoreOptions& options);

  /// prepare_restore for the candidate `snap`: the pre-spawn step. Throws common::Error.
  void prepare(const LoadedSnapshot& snap, const PrepareOptions& options = {});
  /// prepare() happened and nothing was handed out since.
  [[nodiscard]] bool prepared() const noexcept { return prepared_.valid; }

  /// The accessors below end a prepare(): whoever holds the VM, the RAM or a vCPU may change them.
  [[nodiscard]] KvmVm& vm() noexcept {
    prepared_.valid = false;
    return vm_;
  }
  [[nodiscard]] const GuestMemory& memory() const noexcept {
    prepared_.valid = false;  // GuestMemory hands out writable views of RAM
    return memory_;
  }
  [[nodiscard]] std::vector<KvmVcpu>& vcpus() noexcept {
    prepared_.valid = false;
    entered_ = true;
    return vcpus_;
  }
  /// KVM_GET_DIRTY_LOG on every slot, discarding the result (starts a new diff interval).
  void clear_dirty_log();

 private:
  RestoreTarget(KvmVm vm, GuestMemory memory) : vm_(std::move(vm)), memory_(std::move(memory)) {}
  [[nodiscard]] std::vector<KvmVcpu*> vcpu_ptrs();

  KvmVm vm_;
  GuestMemory memory_;
  std::vector<KvmVcpu> vcpus_;
  bool entered_ = false;               // vCPUs handed out since the last flush: they may have run
  mutable PreparedRestore prepared_;   // dropped by the accessors (memory() is const)
};

}  // namespace snapfaas::runner::snapshot
