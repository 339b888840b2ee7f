// Ring-3 guest boot: page tables, segments and registers that start a freestanding ELF at CPL3 with
// IOPL=3 (the setup measured to run natively under PVM: docs/ARCHITECTURE.md, "Where Linux guests run").
#pragma once

#include <linux/kvm.h>

#include <cstdint>

#include "runner/loader/elf.h"
#include "runner/memory/guest_memory.h"

namespace snapfaas::runner {

/// Loads `elf` and writes identity page tables (2 MiB user pages) covering [0, highest RAM end).
/// Throws common::Error when a segment is below SNAPFAAS_RING3_MIN_LOAD, does not fit, or RAM
/// exceeds what the page-table area can map (64 GiB).
void load_ring3_guest(const GuestMemory& memory, const ElfImage& elf);

/// Segment registers and control registers for CPL3 long mode, on top of KVM's reset `sregs`.
[[nodiscard]] kvm_sregs ring3_sregs(kvm_sregs sregs);

/// General registers for vCPU `index` of `count`: RIP = entry, per-vCPU stack, IOPL=3, ABI args.
/// Throws common::Error when `index` has no stack slot.
[[nodiscard]] kvm_regs ring3_regs(std::uint64_t entry, std::uint64_t ram_bytes, std::uint32_t index,
                                  std::uint32_t count);

}  // namespace snapfaas::runner
