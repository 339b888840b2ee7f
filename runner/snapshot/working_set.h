// Working set (REAP-style): the guest pages a request touched after a restore, recorded once and
// prefetched on later restores. Recorded as the guest-RAM pages present in this process's page
// table (/proc/self/pagemap): KVM faults a page into the host mapping whenever the guest reads or
// writes it, so after a restore (which starts with nothing mapped) "present" = touched by the guest,
// plus the kernel's fault-around neighbours. The dirty log alone would miss pages only read.
// (mincore() would not do: on a file mapping it reports the page cache, which holds every page
// another VM or the snapshot writer touched; userfaultfd would need a fault-serving thread and a
// syscall no runner role allows.) The file format is the snapshot container's kWorkingSet kind
// (snapshot_file.h; save_working_set / validate_working_set in snapshot.h).
#pragma once

#include <vector>

#include "runner/memory/guest_memory.h"
#include "runner/snapshot/snapshot.h"
#include "runner/snapshot/snapshot_file.h"

namespace snapfaas::runner::snapshot {

/// RAM-linear runs of guest pages present in the host page table. Throws common::Error when
/// /proc/self/pagemap cannot be read.
[[nodiscard]] std::vector<PageRange> resident_ranges(const GuestMemory& memory);
/// The same through `pagemap`, this process's /proc/self/pagemap opened earlier (a runner opens it
/// before it locks itself down and reads it with pread only).
[[nodiscard]] std::vector<PageRange> resident_ranges(const GuestMemory& memory, int pagemap);

/// A restore of `snap` was asked to prefetch its working set (--load_ws, load_ws: true): true when
/// it has a valid one (logs its size). Otherwise one line on stderr naming `who` and why (none
/// beside the snapshot, or LoadedSnapshot::working_set_error) and false: restore lazily.
[[nodiscard]] bool working_set_usable(const LoadedSnapshot& snap, const std::string& who);

}  // namespace snapfaas::runner::snapshot
