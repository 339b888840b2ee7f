// GuestMemory: bounds-checked guest-physical → host translation.
#include "runner/memory/guest_memory.h"

#include <algorithm>
#include <string>

#include "common/error.h"

namespace snapfaas::runner {

void GuestMemory::add_region(std::uint64_t gpa, MmapRegion mapping) {
  const std::uint64_t size = mapping.size();
  if (size == 0 || gpa + size < gpa) {
    throw common::Error("guest memory region at 0x" + std::to_string(gpa) + ": empty or wraps");
  }
  for (const GuestRegion& r : regions_) {
    if (gpa < r.end() && r.gpa < gpa + size) {
      throw common::Error("guest memory region at gpa " + std::to_string(gpa) + " overlaps region at " +
                          std::to_string(r.gpa));
    }
  }
  regions_.push_back(GuestRegion{gpa, std::move(mapping)});
  std::sort(regions_.begin(), regions_.end(),
            [](const GuestRegion& a, const GuestRegion& b) { return a.gpa < b.gpa; });
}

std::optional<std::span<std::uint8_t>> GuestMemory::slice(std::uint64_t gpa,
                                                          std::uint64_t len) const noexcept {
  for (const GuestRegion& r : regions_) {
    if (gpa < r.gpa || gpa >= r.end()) continue;
    const std::uint64_t offset = gpa - r.gpa;
    if (len > r.mapping.size() - offset) return std::nullopt;  // runs past the region (or overflows)
    return std::span<std::uint8_t>(r.mapping.data() + offset, len);
  }
  return std::nullopt;
}

bool GuestMemory::read(std::uint64_t gpa, std::span<std::uint8_t> out) const noexcept {
  const auto s = slice(gpa, out.size());
  if (!s) return false;
  std::memcpy(out.data(), s->data(), out.size());
  return true;
}

bool GuestMemory::write(std::uint64_t gpa, std::span<const std::uint8_t> in) const noexcept {
  const auto s = slice(gpa, in.size());
  if (!s) return false;
  std::memcpy(s->data(), in.data(), in.size());
  mark_written(gpa, in.size());
  return true;
}

void GuestMemory::enable_write_log() {
  std::vector<GpaRange> ranges;
  for (const GuestRegion& r : regions_) ranges.push_back({r.gpa, r.mapping.size()});
  write_log_ = std::make_unique<WriteLog>(ranges);
}

}  // namespace snapfaas::runner
