// Guest memory → snapshot memory files: a full file (every non-zero page, sparse) or a diff (only
// the pages dirtied since the restore, from the KVM dirty log plus pages the VMM wrote itself).
// Offsets are RAM-linear: region i starts at the sum of the sizes of regions 0..i-1.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "runner/kvm/kvm_vm.h"
#include "runner/memory/guest_memory.h"
#include "runner/snapshot/snapshot_file.h"

namespace snapfaas::runner::snapshot {

/// Sum of the region sizes.
[[nodiscard]] std::uint64_t ram_bytes(const GuestMemory& memory) noexcept;
/// RAM-linear range of the pages [gpa, gpa+len) covers; throws when it is not inside one region.
[[nodiscard]] PageRange ram_range_of(const GuestMemory& memory, std::uint64_t gpa, std::uint64_t len);

/// Runs of pages that are not all zero (pages never touched read as zero too).
[[nodiscard]] std::vector<PageRange> nonzero_ranges(const GuestMemory& memory);
/// Runs of pages KVM logged as written since the last call (KVM_GET_DIRTY_LOG on memslot i =
/// region i, which must be registered with KVM_MEM_LOG_DIRTY_PAGES; reading clears the log),
/// merged with `extra` (pages the VMM wrote, e.g. virtio used rings). Sorted, coalesced.
[[nodiscard]] std::vector<PageRange> dirty_ranges(const KvmVm& vm, const GuestMemory& memory,
                                                  std::span<const PageRange> extra = {});
/// Sorts and coalesces ranges (adjacent or overlapping ones merge).
[[nodiscard]] std::vector<PageRange> coalesce(std::vector<PageRange> ranges);

/// Writes `ranges` of `memory` as the memory file DIR/name (kind kMemoryFull or kMemoryDiff). Atomic. Throws.
void write_guest_memory(const SnapshotDir& dir, const char* name, FileKind kind, const SnapshotId& id,
                        const SnapshotId& base_id, const GuestMemory& memory, std::span<const PageRange> ranges);

}  // namespace snapfaas::runner::snapshot
