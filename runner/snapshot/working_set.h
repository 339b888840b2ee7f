// Working set (REAP-style): the guest pages a request touched after a restore, recorded once and
// prefetched on later restores. Recorded as the guest-RAM pages present in this process's page
// table (/proc/self/pagemap): KVM faults a page into the host mapping whenever the guest reads or
// writes it, so after a restore (which starts with nothing mapped) "present" = touched by the guest,
// plus the kernel's fault-around neighbours. The dirty log alone would miss pages only read.
#pragma once

#include <vector>

#include "runner/memory/guest_memory.h"
#include "runner/snapshot/snapshot_file.h"

namespace snapfaas::runner::snapshot {

/// RAM-linear runs of guest pages present in the host page table. Throws common::Error when
/// /proc/self/pagemap cannot be read.
[[nodiscard]] std::vector<PageRange> resident_ranges(const GuestMemory& memory);

}  // namespace snapfaas::runner::snapshot
