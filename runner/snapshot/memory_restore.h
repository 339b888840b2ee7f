// Restores guest RAM from memory-file layers (a full base, then diffs) by mapping them over the
// VM's existing RAM mappings: base MAP_PRIVATE|MAP_FIXED, each diff range MAP_PRIVATE|MAP_FIXED
// on top. Clean pages stay shared in the page cache across VMs; guest writes are copy-on-write and
// never reach the files. Eager layers are read into anonymous memory instead.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "runner/memory/guest_memory.h"
#include "runner/snapshot/snapshot_file.h"

namespace snapfaas::runner::snapshot {

/// One layer to apply. `file` is a validated kMemoryFull (first layer) or kMemoryDiff file.
struct MemoryLayer {
  const SnapshotFile* file = nullptr;
  bool eager = false;  ///< copy into anonymous memory (the seed's copy_base / copy_diff)
};

struct MemoryRestoreStats {
  std::uint64_t mappings = 0;      ///< mmap calls made
  std::uint64_t bytes_copied = 0;  ///< eager bytes read
};

/// Checks the chain before touching memory: first layer full, the rest diffs, each diff's base_id
/// equal to the previous layer's id, and every layer sized for `memory` (same RAM bytes; every
/// range inside it). Throws common::Error naming the file and the problem.
void validate_layers(const GuestMemory& memory, std::span<const MemoryLayer> layers);

/// validate_layers, then maps/copies each layer in order over `memory`'s regions (their host
/// addresses and sizes do not change, so KVM memslots stay registered). `applied`: how many leading
/// layers are already in place, untouched since (a pre-spawned VM that mapped the base ahead of the
/// request); only the layers after them are applied. Throws common::Error.
MemoryRestoreStats restore_memory(const GuestMemory& memory, std::span<const MemoryLayer> layers,
                                  std::size_t applied = 0);

/// madvise(MADV_POPULATE_READ) on the guest pages of `ranges` (RAM-linear): faults them in from the
/// page cache ahead of the guest (working-set prefetch). Returns the pages populated.
std::uint64_t prefetch_ranges(const GuestMemory& memory, std::span<const PageRange> ranges);

}  // namespace snapfaas::runner::snapshot
