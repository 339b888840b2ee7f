// Working-set recording from /proc/self/pagemap (bit 63 = present; kernel doc admin-guide/mm/pagemap).
#include "runner/snapshot/working_set.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>

#include "common/error.h"
#include "common/unique_fd.h"

namespace snapfaas::runner::snapshot {

std::vector<PageRange> resident_ranges(const GuestMemory& memory) {
  common::UniqueFd pm(::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC));
  if (!pm) throw common::sys_error("open /proc/self/pagemap");
  return resident_ranges(memory, pm.get());
}

std::vector<PageRange> resident_ranges(const GuestMemory& memory, int pagemap) {
  std::vector<PageRange> out;
  std::vector<std::uint64_t> entries(4096);
  std::uint64_t base = 0;
  for (const GuestRegion& r : memory.regions()) {
    const auto first = reinterpret_cast<std::uintptr_t>(r.mapping.data()) / kPageSize;
    const std::uint64_t pages = r.mapping.size() / kPageSize;
    for (std::uint64_t p = 0; p < pages; p += entries.size()) {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(entries.size(), pages - p));
      const ssize_t got = ::pread(pagemap, entries.data(), n * 8, static_cast<off_t>((first + p) * 8));
      if (got != static_cast<ssize_t>(n * 8)) throw common::sys_error("read /proc/self/pagemap");
      for (std::size_t i = 0; i < n; ++i) {
        if ((entries[i] >> 63) == 0) continue;
        const std::uint64_t off = base + (p + i) * kPageSize;
        if (!out.empty() && out.back().end() == off) {
          out.back().length += kPageSize;
        } else {
          out.push_back({off, kPageSize});
        }
      }
    }
    base += r.mapping.size();
  }
  return out;
}

bool working_set_usable(const LoadedSnapshot& snap, const std::string& who) {
  // One line on stderr whatever the log level: the supervisor's log keeps it.
  if (!snap.working_set_error.empty()) {
    std::fprintf(stderr, "firerunner: %s: working set not used, restoring lazily: %s\n", who.c_str(),
                 snap.working_set_error.c_str());
    return false;
  }
  if (snap.working_set.empty()) {
    std::fprintf(stderr, "firerunner: %s: no working set beside the snapshot, restoring lazily\n", who.c_str());
    return false;
  }
  std::uint64_t pages = 0;
  for (const PageRange& r : snap.working_set) pages += r.length / kPageSize;
  spdlog::info("firerunner: {}: prefetching a working set of {} pages in {} ranges", who, pages, snap.working_set.size());
  return true;
}

}  // namespace snapfaas::runner::snapshot
