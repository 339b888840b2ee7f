// RestoreTarget: a VM built ahead of a restore — KVM VM, guest RAM registered as memslots (with
// dirty logging, so a diff can be taken later), optional irqchip, vCPUs with CPUID set — and the
// restore into it: map memory layers over the registered RAM, then set VM and vCPU state.
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
  MemoryRestoreStats memory;
  std::uint64_t prefetched_pages = 0;
};

/// Restores `snap` into an existing VM whose RAM `memory` is registered as memslots 0..n-1 and
/// whose vCPUs exist with CPUID set: validates vCPU count, RAM layout, irqchip and the memory chain
/// before changing anything, then maps memory and applies VM and vCPU state. `dirty_logging`: the
/// slots log dirty pages; the log is cleared so a later diff holds only pages written after this.
RestoreTimings restore_into(KvmVm& vm, const GuestMemory& memory, std::span<KvmVcpu* const> vcpus,
                            const LoadedSnapshot& snap, const RestoreOptions& options, bool dirty_logging);

/// Owns the live VM. Built and restored on one thread; afterwards the caller runs the vCPUs.
class RestoreTarget {
 public:
  /// Creates the VM: RAM for `mem_bytes` (guest_layout ranges) registered with
  /// KVM_MEM_LOG_DIRTY_PAGES before the irqchip (the fast order), then `vcpu_count` vCPUs with
  /// normalised CPUID. Throws common::Error.
  static RestoreTarget create(const KvmSystem& kvm, std::uint64_t mem_bytes, std::uint32_t vcpu_count, bool irqchip);

  /// Validates `snap` against this VM (vCPU count, RAM layout, irqchip, memory chain) before
  /// changing anything, then maps memory and applies VM and vCPU state. Clears the dirty log so a
  /// later diff holds only pages written after the restore. Throws common::Error.
  RestoreTimings restore(const LoadedSnapshot& snap, const RestoreOptions& options);

  [[nodiscard]] KvmVm& vm() noexcept { return vm_; }
  [[nodiscard]] const GuestMemory& memory() const noexcept { return memory_; }
  [[nodiscard]] std::vector<KvmVcpu>& vcpus() noexcept { return vcpus_; }
  /// KVM_GET_DIRTY_LOG on every slot, discarding the result (starts a new diff interval).
  void clear_dirty_log();

 private:
  RestoreTarget(KvmVm vm, GuestMemory memory) : vm_(std::move(vm)), memory_(std::move(memory)) {}

  KvmVm vm_;
  GuestMemory memory_;
  std::vector<KvmVcpu> vcpus_;
};

}  // namespace snapfaas::runner::snapshot
