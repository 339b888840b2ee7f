// The x86-64 guest-physical layout of a microVM: where RAM goes (split around the 32-bit MMIO gap
// [3 GiB, 4 GiB)), where the MMIO devices live, and a helper that builds RAM as GuestMemory.
#pragma once

#include <cstdint>
#include <vector>

#include "runner/memory/guest_memory.h"

namespace snapfaas::runner {

namespace layout {
inline constexpr std::uint64_t kMmioGapStart = 3ull << 30;  ///< 32-bit MMIO gap start (3 GiB)
inline constexpr std::uint64_t kMmioGapEnd = 4ull << 30;    ///< ... end (4 GiB)
/// virtio-mmio device windows: 4 KiB each from here (inside the gap), IRQs from kFirstVirtioIrq.
inline constexpr std::uint64_t kVirtioMmioBase = 0xd0000000;
inline constexpr std::uint64_t kVirtioMmioSize = 0x1000;
inline constexpr std::uint32_t kFirstVirtioIrq = 5;
inline constexpr std::uint64_t kIoapicBase = 0xfec00000;
inline constexpr std::uint64_t kLapicBase = 0xfee00000;
/// KVM_SET_TSS_ADDR needs 3 pages, KVM_SET_IDENTITY_MAP_ADDR one, all outside RAM: just below
/// the IOAPIC, inside the gap (as Firecracker/QEMU place them).
inline constexpr std::uint64_t kIdentityMapAddr = 0xfeffc000;
inline constexpr std::uint64_t kTssAddr = 0xfeffd000;
}  // namespace layout

/// One RAM range in guest-physical space.
struct RamRange {
  std::uint64_t gpa = 0;
  std::uint64_t size = 0;
  [[nodiscard]] std::uint64_t end() const noexcept { return gpa + size; }
  bool operator==(const RamRange&) const = default;
};

/// RAM ranges for `ram_bytes` of guest RAM: [0, size) when it fits below the gap, else
/// [0, 3 GiB) + [4 GiB, 4 GiB + rest). Throws common::Error when ram_bytes is 0 or not 4 KiB aligned.
[[nodiscard]] std::vector<RamRange> ram_ranges(std::uint64_t ram_bytes);

/// Anonymous host memory for every range of ram_ranges(ram_bytes), added to a new GuestMemory in
/// order (region i = memslot i). Throws common::Error.
[[nodiscard]] GuestMemory create_guest_ram(std::uint64_t ram_bytes);

}  // namespace snapfaas::runner
