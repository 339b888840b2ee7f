// MP table (Intel MultiProcessor Specification 1.4): tells Linux about every vCPU's LAPIC, the
// IOAPIC and the ISA interrupt routing, as Firecracker's arch/x86_64/mptable.rs and kvmtool's
// x86/mptable.c do.
#pragma once

#include <cstdint>

#include "runner/memory/guest_memory.h"

namespace snapfaas::runner {

/// Where the table goes: the EBDA area at 0x9fc00, which the e820 map leaves out of RAM.
inline constexpr std::uint64_t kMptableStart = 0x9fc00;
/// IOAPIC pins (and ISA/legacy IRQs routed 1:1 to them).
inline constexpr std::uint32_t kIoapicPins = 24;
/// Most vCPUs the table (and the EBDA space) holds.
inline constexpr std::uint32_t kMptableMaxCpus = 32;

/// Writes the floating pointer + configuration table for `vcpu_count` vCPUs at kMptableStart.
/// Throws common::Error when vcpu_count is 0 or too large, or memory does not hold the table.
void write_mptable(const GuestMemory& memory, std::uint32_t vcpu_count);

}  // namespace snapfaas::runner
