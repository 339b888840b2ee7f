// CPUID normalisation: turns KVM_GET_SUPPORTED_CPUID into what one vCPU of an N-vCPU VM reports
// (hypervisor bit and KVM leaves, APIC ID, topology), in the spirit of Firecracker's cpuid crate.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

namespace snapfaas::runner {

/// Returns `supported` adjusted for vCPU `index` (its APIC ID) of `count` vCPUs, one core each:
/// leaf 1 (APIC ID, logical count, HTT, hypervisor bit), leaf 4 (cores per package), leaves
/// 0xB/0x1F (x2APIC topology), 0x80000008 (core count), and the KVM signature leaf 0x40000000.
/// Pure function: no ioctls, unit-testable.
[[nodiscard]] std::vector<kvm_cpuid_entry2> normalize_cpuid(std::vector<kvm_cpuid_entry2> supported,
                                                            std::uint32_t index, std::uint32_t count);

}  // namespace snapfaas::runner
