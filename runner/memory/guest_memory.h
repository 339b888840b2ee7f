// GuestMemory: the guest-physical address space of one VM and the one place that translates a
// guest physical address (GPA) to host memory. Every guest-provided address and length goes here.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <type_traits>
#include <vector>

#include <memory>

#include "runner/memory/mmap_region.h"
#include "runner/memory/write_log.h"

namespace snapfaas::runner {

/// One contiguous guest-physical range backed by one host mapping.
struct GuestRegion {
  std::uint64_t gpa = 0;  ///< first guest-physical address
  MmapRegion mapping;     ///< host memory; mapping.size() bytes

  [[nodiscard]] std::uint64_t end() const noexcept { return gpa + mapping.size(); }
};

/// Owns the host mappings of a VM's guest-physical regions (RAM below/above the 32-bit MMIO gap,
/// the ipc window, ...). Regions are added at setup (not thread-safe); lookups afterwards are
/// const, noexcept and safe from any thread. The bytes themselves are shared with the guest: treat
/// everything read through here as hostile input.
class GuestMemory {
 public:
  /// Adds a region; throws common::Error if it is empty, wraps, or overlaps another region.
  void add_region(std::uint64_t gpa, MmapRegion mapping);

  [[nodiscard]] const std::vector<GuestRegion>& regions() const noexcept { return regions_; }

  /// Host view of [gpa, gpa+len) if it lies wholly inside one region; nullopt otherwise
  /// (out of range, overflowing, or crossing a region boundary). len 0 is valid inside a region.
  [[nodiscard]] std::optional<std::span<std::uint8_t>> slice(std::uint64_t gpa,
                                                             std::uint64_t len) const noexcept;

  /// Setup only (after the last add_region): from now on write() and mark_written() record the
  /// pages the VMM writes (a snapshot diff needs them besides KVM's dirty log).
  void enable_write_log();
  /// Records that the VMM wrote [gpa, gpa+len) through a slice() (no-op without a write log).
  void mark_written(std::uint64_t gpa, std::uint64_t len) const noexcept {
    if (write_log_) write_log_->mark(gpa, len);
  }
  /// Pages the VMM wrote since the last call (empty without a write log); clears the log.
  [[nodiscard]] std::vector<GpaRange> take_written() const noexcept {
    return write_log_ ? write_log_->take() : std::vector<GpaRange>{};
  }

  /// Copies guest bytes into `out`; false (and `out` untouched) when the range is not valid.
  [[nodiscard]] bool read(std::uint64_t gpa, std::span<std::uint8_t> out) const noexcept;
  /// Copies `in` into guest memory; false (nothing written) when the range is not valid.
  [[nodiscard]] bool write(std::uint64_t gpa, std::span<const std::uint8_t> in) const noexcept;

  /// Reads a trivially copyable object (a copy: the guest may change memory concurrently).
  template <typename T>
  [[nodiscard]] std::optional<T> read_obj(std::uint64_t gpa) const noexcept {
    static_assert(std::is_trivially_copyable_v<T>);
    T value;
    if (!read(gpa, std::span(reinterpret_cast<std::uint8_t*>(&value), sizeof(T)))) return std::nullopt;
    return value;
  }

  /// Writes a trivially copyable object; false when the range is not valid.
  template <typename T>
  [[nodiscard]] bool write_obj(std::uint64_t gpa, const T& value) const noexcept {
    static_assert(std::is_trivially_copyable_v<T>);
    return write(gpa, std::span(reinterpret_cast<const std::uint8_t*>(&value), sizeof(T)));
  }

 private:
  std::vector<GuestRegion> regions_;  // sorted by gpa, non-overlapping
  std::unique_ptr<WriteLog> write_log_;  // enable_write_log(); marked through const accessors
};

}  // namespace snapfaas::runner
