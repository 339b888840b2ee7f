// WriteLog: per-region page bitmaps of atomic words.
#include "runner/memory/write_log.h"

#include <bit>

namespace snapfaas::runner {

namespace {
constexpr std::uint64_t kPageShift = 12;
constexpr std::uint64_t kPageSize = 1ull << kPageShift;
}  // namespace

WriteLog::WriteLog(const std::vector<GpaRange>& regions) {
  for (const GpaRange& r : regions) {
    const std::size_t pages = (r.length + kPageSize - 1) >> kPageShift;
    const std::size_t words = (pages + 63) / 64;
    Region region{r, std::make_unique<std::atomic<std::uint64_t>[]>(words), words};
    for (std::size_t i = 0; i < words; ++i) region.bits[i].store(0, std::memory_order_relaxed);
    regions_.push_back(std::move(region));
  }
}

void WriteLog::mark(std::uint64_t gpa, std::uint64_t len) noexcept {
  if (len == 0) return;
  for (Region& r : regions_) {
    if (gpa < r.range.gpa || gpa - r.range.gpa >= r.range.length) continue;
    const std::uint64_t first = (gpa - r.range.gpa) >> kPageShift;
    const std::uint64_t end_byte = std::min(gpa - r.range.gpa + len, r.range.length);
    const std::uint64_t last = (end_byte - 1) >> kPageShift;
    for (std::uint64_t page = first; page <= last; ++page) {
      // relaxed: the bits are read by take() after the vCPUs are paused (a thread join/handshake
      // orders them), never used to publish data.
      r.bits[page / 64].fetch_or(1ull << (page % 64), std::memory_order_relaxed);
    }
    return;
  }
}

std::vector<GpaRange> WriteLog::take() noexcept {
  std::vector<GpaRange> out;
  for (Region& r : regions_) {
    for (std::size_t w = 0; w < r.words; ++w) {
      std::uint64_t bits = r.bits[w].exchange(0, std::memory_order_relaxed);
      while (bits != 0) {
        const unsigned bit = static_cast<unsigned>(std::countr_zero(bits));
        bits &= bits - 1;
        const std::uint64_t gpa = r.range.gpa + ((w * 64 + bit) << kPageShift);
        if (!out.empty() && out.back().gpa + out.back().length == gpa) {
          out.back().length += kPageSize;
        } else {
          out.push_back({gpa, kPageSize});
        }
      }
    }
  }
  return out;
}

}  // namespace snapfaas::runner
