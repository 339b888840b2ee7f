// Capture and apply of one vCPU's KVM state (VcpuState), and completion of a pending I/O exit so
// that the saved RIP is already past the guest's port-I/O instruction.
#pragma once

#include <cstdint>
#include <vector>

#include "runner/kvm/kvm_vcpu.h"
#include "runner/snapshot/microvm_state.h"

namespace snapfaas::runner::snapshot {

/// Finishes the instruction of the last KVM_EXIT_IO/MMIO (KVM completes it on the next KVM_RUN,
/// which is where RIP moves past it): KVM_RUN with kvm_run.immediate_exit = 1 returns -EINTR right
/// after that completion without running guest code (KVM API doc 5, "immediate_exit"). Call on a
/// paused vCPU (not inside KVM_RUN on another thread). Throws common::Error if KVM_RUN fails
/// otherwise.
void complete_pending_io(KvmVcpu& vcpu);

/// The MSR indices worth saving: KVM_GET_MSR_INDEX_LIST filtered to those KVM_GET_MSRS reads on
/// `vcpu`. Computed once per process (thread-safe).
[[nodiscard]] const std::vector<std::uint32_t>& saveable_msrs(KvmVcpu& vcpu);

/// KVM_GET_REGS/SREGS/XSAVE/XCRS/MSRS/LAPIC/VCPU_EVENTS/MP_STATE. Call complete_pending_io first.
/// `in_kernel_lapic`: the VM has an irqchip (KVM_GET_LAPIC fails without one).
[[nodiscard]] VcpuState capture_vcpu_state(KvmVcpu& vcpu, bool in_kernel_lapic);

/// Where apply_vcpu_state's time went (milliseconds per step, summed over calls) and how many
/// ioctls it made or skipped.
struct VcpuApplyStats {
  double sregs_ms = 0, regs_ms = 0, xsave_ms = 0, xcrs_ms = 0, msrs_ms = 0, lapic_ms = 0, events_ms = 0,
         mp_state_ms = 0;
  std::uint32_t ioctls = 0;   ///< SET ioctls made
  std::uint32_t skipped = 0;  ///< SET ioctls skipped because `current` already held that state
};

/// Sets everything back on a vCPU whose CPUID is already set: sregs, regs, xsave, xcrs, MSRs (one
/// KVM_SET_MSRS; MSRs this KVM rejected once are left out afterwards), LAPIC, TSC deadline (after
/// the LAPIC, which would otherwise reset it), events, mp_state.
/// `current`: the vCPU's state as read back from KVM (capture_vcpu_state) with nothing run or set
/// on it since; a part byte-equal to it is not set again. Regs, MSRs (TSC moves with time) and the
/// LAPIC (its timer counts) are always set. `stats` (optional) receives the per-step times.
void apply_vcpu_state(KvmVcpu& vcpu, const VcpuState& state, const VcpuState* current = nullptr,
                      VcpuApplyStats* stats = nullptr);

}  // namespace snapfaas::runner::snapshot
