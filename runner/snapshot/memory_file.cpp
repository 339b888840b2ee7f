// Memory file writing: zero-page scan, dirty-log ranges, and the RAM-linear offset mapping.
#include "runner/snapshot/memory_file.h"

#include <algorithm>
#include <cstring>

#include "common/error.h"

namespace snapfaas::runner::snapshot {

namespace {
bool page_is_zero(const std::uint8_t* p) noexcept {
  std::uint64_t acc = 0;
  for (std::size_t i = 0; i < kPageSize; i += 64) {
    std::uint64_t w[8];
    std::memcpy(w, p + i, sizeof w);
    acc |= w[0] | w[1] | w[2] | w[3] | w[4] | w[5] | w[6] | w[7];
    if (acc != 0) return false;
  }
  return true;
}

void append_page(std::vector<PageRange>& out, std::uint64_t offset) {
  if (!out.empty() && out.back().end() == offset) {
    out.back().length += kPageSize;
  } else {
    out.push_back({offset, kPageSize});
  }
}
}  // namespace

std::uint64_t ram_bytes(const GuestMemory& memory) noexcept {
  std::uint64_t total = 0;
  for (const GuestRegion& r : memory.regions()) total += r.mapping.size();
  return total;
}

PageRange ram_range_of(const GuestMemory& memory, std::uint64_t gpa, std::uint64_t len) {
  std::uint64_t base = 0;
  for (const GuestRegion& r : memory.regions()) {
    if (gpa >= r.gpa && len <= r.end() - gpa && gpa < r.end()) {
      const std::uint64_t first = (gpa - r.gpa) & ~(kPageSize - 1);
      const std::uint64_t last = (gpa - r.gpa + len + kPageSize - 1) & ~(kPageSize - 1);
      return {base + first, std::max(last - first, kPageSize)};
    }
    base += r.mapping.size();
  }
  throw common::Error("guest range " + std::to_string(gpa) + "+" + std::to_string(len) + " is not in guest RAM");
}

std::vector<PageRange> coalesce(std::vector<PageRange> ranges) {
  std::sort(ranges.begin(), ranges.end(), [](const PageRange& a, const PageRange& b) { return a.offset < b.offset; });
  std::vector<PageRange> out;
  for (const PageRange& r : ranges) {
    if (r.length == 0) continue;
    if (!out.empty() && r.offset <= out.back().end()) {
      out.back().length = std::max(out.back().end(), r.end()) - out.back().offset;
    } else {
      out.push_back(r);
    }
  }
  return out;
}

std::vector<PageRange> nonzero_ranges(const GuestMemory& memory) {
  std::vector<PageRange> out;
  std::uint64_t base = 0;
  for (const GuestRegion& r : memory.regions()) {
    for (std::uint64_t off = 0; off < r.mapping.size(); off += kPageSize) {
      if (!page_is_zero(r.mapping.data() + off)) append_page(out, base + off);
    }
    base += r.mapping.size();
  }
  return out;
}

std::vector<PageRange> dirty_ranges(const KvmVm& vm, const GuestMemory& memory, std::span<const PageRange> extra) {
  std::vector<PageRange> out;
  std::uint64_t base = 0;
  std::uint32_t slot = 0;
  for (const GuestRegion& r : memory.regions()) {
    const std::vector<std::uint64_t> bitmap = vm.dirty_log(slot++, r.mapping.size());
    const std::uint64_t pages = r.mapping.size() / kPageSize;
    for (std::uint64_t w = 0; w < bitmap.size(); ++w) {
      std::uint64_t bits = bitmap[w];
      while (bits != 0) {
        const std::uint64_t page = w * 64 + static_cast<std::uint64_t>(__builtin_ctzll(bits));
        bits &= bits - 1;
        if (page < pages) append_page(out, base + page * kPageSize);
      }
    }
    base += r.mapping.size();
  }
  out.insert(out.end(), extra.begin(), extra.end());
  return coalesce(std::move(out));
}

void write_guest_memory(const SnapshotDir& dir, const char* name, FileKind kind, const SnapshotId& id,
                        const SnapshotId& base_id, const GuestMemory& memory, std::span<const PageRange> ranges) {
  const std::uint64_t total = ram_bytes(memory);
  // Ranges may span a region boundary in RAM-linear space; split them so each source is one span.
  std::vector<PageRange> split;
  std::uint64_t base = 0;
  std::vector<std::pair<std::uint64_t, const GuestRegion*>> starts;
  for (const GuestRegion& r : memory.regions()) {
    starts.emplace_back(base, &r);
    base += r.mapping.size();
  }
  for (const PageRange& r : ranges) {
    if (r.end() > total || r.end() < r.offset) throw common::Error("snapshot " + dir.join(name) + ": range outside guest RAM");
    std::uint64_t off = r.offset;
    while (off < r.end()) {
      auto it = std::upper_bound(starts.begin(), starts.end(), off,
                                 [](std::uint64_t v, const auto& s) { return v < s.first; });
      const auto& [start, region] = *(it - 1);
      const std::uint64_t len = std::min(r.end(), start + region->mapping.size()) - off;
      split.push_back({off, len});
      off += len;
    }
  }
  write_memory_file(dir, name, kind, id, base_id, total, split, [&](const PageRange& r) {
    auto it = std::upper_bound(starts.begin(), starts.end(), r.offset,
                               [](std::uint64_t v, const auto& s) { return v < s.first; });
    const auto& [start, region] = *(it - 1);
    return std::span<const std::uint8_t>(region->mapping.data() + (r.offset - start), r.length);
  });
}

}  // namespace snapfaas::runner::snapshot
