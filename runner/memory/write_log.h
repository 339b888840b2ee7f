// WriteLog: which guest pages the VMM itself wrote (virtio used rings, block reads into guest
// buffers, ...). KVM's dirty log only records the guest's own writes, so a snapshot diff needs both.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace snapfaas::runner {

/// A guest-physical range, page aligned.
struct GpaRange {
  std::uint64_t gpa = 0;
  std::uint64_t length = 0;
};

/// One bit per 4 KiB page of each region. mark() is lock-free and callable from any thread.
class WriteLog {
 public:
  /// `regions`: (gpa, bytes) of each guest region, sorted by gpa.
  explicit WriteLog(const std::vector<GpaRange>& regions);

  /// Records [gpa, gpa+len) as written; ranges outside every region are ignored.
  void mark(std::uint64_t gpa, std::uint64_t len) noexcept;
  /// The written pages since the last take(), coalesced; clears the log.
  [[nodiscard]] std::vector<GpaRange> take() noexcept;

 private:
  struct Region {
    GpaRange range;
    std::unique_ptr<std::atomic<std::uint64_t>[]> bits;
    std::size_t words = 0;
  };
  std::vector<Region> regions_;
};

}  // namespace snapfaas::runner
