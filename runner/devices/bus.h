// Bus: maps port-I/O or MMIO address ranges to devices (one Bus for PIO, one for MMIO), as
// Firecracker's vmm::devices::Bus does. The vCPU exit handler dispatches KVM_EXIT_IO/MMIO here.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace snapfaas::runner {

/// A device on a bus. Accesses come from vCPU threads; a device shared by several vCPUs does its
/// own locking. Handlers are noexcept: a bad guest access is logged and answered, never thrown.
class BusDevice {
 public:
  virtual ~BusDevice() = default;
  /// Guest read of data.size() bytes at `offset` from the device's base. Fill `data` (0xff for
  /// registers the device does not have).
  virtual void read(std::uint64_t offset, std::span<std::uint8_t> data) noexcept = 0;
  /// Guest write of data.size() bytes at `offset` from the device's base.
  virtual void write(std::uint64_t offset, std::span<const std::uint8_t> data) noexcept = 0;
};

/// Address-range → device map. Built at setup (insert throws on overlap); lookups are const and
/// thread-safe afterwards.
class Bus {
 public:
  /// Places `device` at [base, base+len). Throws common::Error on overlap or len 0.
  void insert(std::shared_ptr<BusDevice> device, std::uint64_t base, std::uint64_t len);
  /// Setup only (no vCPU running): puts `device` at [base, base+len) in place of the device there
  /// (same range exactly), or inserts it when the range is free. Used by snapshot restore.
  /// Throws common::Error on a partial overlap.
  void replace(std::shared_ptr<BusDevice> device, std::uint64_t base, std::uint64_t len);

  /// Dispatches a read; false when no device covers [addr, addr+data.size()) — the caller answers
  /// with all-ones and logs it.
  [[nodiscard]] bool read(std::uint64_t addr, std::span<std::uint8_t> data) const noexcept;
  /// Dispatches a write; false when no device covers it.
  [[nodiscard]] bool write(std::uint64_t addr, std::span<const std::uint8_t> data) const noexcept;

 private:
  struct Entry {
    std::uint64_t base;
    std::uint64_t len;
    std::shared_ptr<BusDevice> device;
  };
  [[nodiscard]] const Entry* find(std::uint64_t addr, std::uint64_t len) const noexcept;

  std::vector<Entry> entries_;  // sorted by base, non-overlapping
};

}  // namespace snapfaas::runner
