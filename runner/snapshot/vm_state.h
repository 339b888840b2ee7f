// Capture and apply of VM-wide KVM state: in-kernel PIC/IOAPIC, PIT and kvmclock (VmState).
#pragma once

#include "runner/kvm/kvm_vm.h"
#include "runner/snapshot/microvm_state.h"

namespace snapfaas::runner::snapshot {

/// KVM_GET_IRQCHIP (PIC master, slave, IOAPIC) and KVM_GET_PIT2 when the VM has an irqchip (the
/// VMM creates the PIT with it), KVM_GET_CLOCK always. Call with every vCPU paused.
[[nodiscard]] VmState capture_vm_state(const KvmVm& vm);

/// The reverse, on a VM built the same way (irqchip/PIT present iff state.irqchip). Throws
/// common::Error on a mismatch or a failing ioctl.
void apply_vm_state(const KvmVm& vm, const VmState& state);

}  // namespace snapfaas::runner::snapshot
