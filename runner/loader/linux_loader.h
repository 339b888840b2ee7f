// Linux 64-bit boot protocol (Documentation/x86/boot.rst, "64-bit BOOT PROTOCOL"): loads a vmlinux,
// writes the zero page (boot_params with e820 map and command line pointer), the MP table, the
// boot GDT and identity page tables; and the register state the BSP starts with.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <string>
#include <vector>

#include "runner/loader/elf.h"
#include "runner/memory/guest_layout.h"
#include "runner/memory/guest_memory.h"

namespace snapfaas::runner {

namespace linux_boot {
inline constexpr std::uint64_t kGdtAddr = 0x500;
inline constexpr std::uint64_t kIdtAddr = 0x520;
inline constexpr std::uint64_t kZeroPage = 0x7000;
inline constexpr std::uint64_t kBootStack = 0x8ff0;
inline constexpr std::uint64_t kPml4 = 0x9000;
inline constexpr std::uint64_t kPdpt = 0xa000;
inline constexpr std::uint64_t kPd = 0xb000;
inline constexpr std::uint64_t kCmdline = 0x20000;
inline constexpr std::size_t kCmdlineMax = 2048;  // x86 COMMAND_LINE_SIZE, including the NUL
inline constexpr std::uint64_t kEbdaStart = 0x9fc00;
inline constexpr std::uint64_t kHighMemStart = 0x100000;
}  // namespace linux_boot

/// A guest-physical range Linux must not use as RAM (e820 type 2): the MMIO gap, and the ring
/// window (ipc/guest_abi.h, added by the Vmm).
struct ReservedRange {
  std::uint64_t gpa = 0;
  std::uint64_t size = 0;
};

struct LinuxBootConfig {
  std::string cmdline;
  std::uint32_t vcpu_count = 1;
  std::vector<ReservedRange> reserved;  ///< extra reserved ranges (outside RAM)
};

/// One e820 entry as the zero page stores it.
struct E820Entry {
  std::uint64_t addr = 0;
  std::uint64_t size = 0;
  std::uint32_t type = 0;  // 1 RAM, 2 reserved
  bool operator==(const E820Entry&) const = default;
};

/// The e820 map for `ram` (from ram_ranges()) + the MMIO gap + `reserved`: low RAM stops at the
/// EBDA (the MP table lives there), RAM resumes at 1 MiB.
[[nodiscard]] std::vector<E820Entry> build_e820(const std::vector<RamRange>& ram,
                                                const std::vector<ReservedRange>& reserved);

/// Loads `kernel` and writes zero page, command line, MP table, GDT/IDT and page tables.
/// Returns the 64-bit entry point. Throws common::Error (command line too long, memory too small).
[[nodiscard]] std::uint64_t load_linux(const GuestMemory& memory, const ElfImage& kernel,
                                       const LinuxBootConfig& config);

/// Rewrites the command line of a loaded, not yet started kernel (load_linux placed it): a device
/// attached after the load (the pre-spawned runner's app disk at kBoot) announces itself there.
/// Throws common::Error (too long, memory too small).
void rewrite_linux_cmdline(const GuestMemory& memory, const std::string& cmdline);

/// BSP state for the 64-bit entry: long mode, the boot GDT, CR3 = identity tables.
[[nodiscard]] kvm_sregs linux_sregs(kvm_sregs sregs);
/// RIP = entry, RSI = zero page, RSP = boot stack, RFLAGS = 2.
[[nodiscard]] kvm_regs linux_regs(std::uint64_t entry);
/// x87/SSE defaults (FCW 0x37f, MXCSR 0x1f80).
[[nodiscard]] kvm_fpu linux_fpu();
/// LAPIC with LINT0 = ExtINT and LINT1 = NMI (virtual wire mode, as the MP table says).
[[nodiscard]] kvm_lapic_state linux_lapic(kvm_lapic_state lapic);

}  // namespace snapfaas::runner
