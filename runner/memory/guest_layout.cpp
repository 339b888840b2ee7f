// Guest-physical layout: RAM ranges around the 32-bit MMIO gap.
#include "runner/memory/guest_layout.h"

#include <string>

#include "common/error.h"

namespace snapfaas::runner {

std::vector<RamRange> ram_ranges(std::uint64_t ram_bytes) {
  if (ram_bytes == 0 || ram_bytes % 4096 != 0) {
    throw common::Error("guest RAM size " + std::to_string(ram_bytes) + ": must be a non-zero multiple of 4 KiB");
  }
  if (ram_bytes <= layout::kMmioGapStart) return {RamRange{0, ram_bytes}};
  return {RamRange{0, layout::kMmioGapStart}, RamRange{layout::kMmioGapEnd, ram_bytes - layout::kMmioGapStart}};
}

GuestMemory create_guest_ram(std::uint64_t ram_bytes) {
  GuestMemory memory;
  for (const RamRange& r : ram_ranges(ram_bytes)) {
    memory.add_region(r.gpa, MmapRegion::anonymous_shared(r.size));
  }
  return memory;
}

}  // namespace snapfaas::runner
