// The MSR values a vCPU starts with, as Linux's 64-bit boot path expects them (Firecracker's
// arch/x86_64/msr.rs create_boot_msr_entries).
#pragma once

#include <linux/kvm.h>

#include <vector>

namespace snapfaas::runner {

/// SYSENTER/SYSCALL MSRs zeroed, TSC 0, MISC_ENABLE fast-strings, MTRRs enabled with WB default.
[[nodiscard]] std::vector<kvm_msr_entry> boot_msrs();

}  // namespace snapfaas::runner
