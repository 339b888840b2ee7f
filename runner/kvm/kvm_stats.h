// KvmVcpuStats: two of the counters KVM keeps for one vCPU, read from its binary statistics file
// (KVM_GET_STATS_FD, Linux 5.14+): the page faults KVM took for the guest (pf_taken: first touches
// of guest memory, shadow-page-table fills, emulated page-table writes) and the VM exits (exits),
// both cumulative since the vCPU was created. The supervisor reports them per cold request
// (ipc/runner_times.h), the part of a restore's cost that no timestamp shows.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <optional>
#include <span>

#include "common/unique_fd.h"

namespace snapfaas::runner {

struct VcpuCounters {
  std::uint64_t page_faults = 0;
  std::uint64_t exits = 0;
  VcpuCounters& operator+=(const VcpuCounters& o) noexcept {
    page_faults += o.page_faults;
    exits += o.exits;
    return *this;
  }
};

/// Where the two counters are in a statistics file (byte offsets from its start).
struct VcpuCounterOffsets {
  std::uint64_t page_faults = 0;
  std::uint64_t exits = 0;
};

/// Each descriptor is kStatsDescFixedBytes of fields (flags u32, exponent s16, size u16, offset
/// u32, bucket_size u32) followed by header.name_size bytes of NUL-terminated name. (In C++,
/// sizeof(kvm_stats_desc) also counts the empty struct of __DECLARE_FLEX_ARRAY, so it is not used.)
inline constexpr std::size_t kStatsDescFixedBytes = 16;

/// Finds "pf_taken" and "exits" in the descriptor table `descriptors` (header.num_desc entries read
/// from header.desc_offset): both must be cumulative single 64-bit values. nullopt when the table's
/// size does not match the header, a name is not terminated inside its field, or either counter is
/// missing or of another shape. Offsets are header.data_offset + the descriptor's offset.
[[nodiscard]] std::optional<VcpuCounterOffsets> find_vcpu_counters(const kvm_stats_header& header,
                                                                   std::span<const std::uint8_t> descriptors) noexcept;

class KvmVcpuStats {
 public:
  /// Unavailable: read() returns nullopt.
  KvmVcpuStats() noexcept = default;
  /// KVM_GET_STATS_FD on `vcpu_fd` and the lookup of the two counters. Setup only (before
  /// lock-down: the ioctl is not in any thread's program). Never throws: a kernel without the
  /// statistics file, or whose file lacks either counter, gives an unavailable object.
  [[nodiscard]] static KvmVcpuStats open(int vcpu_fd) noexcept;

  [[nodiscard]] bool available() const noexcept { return fd_.valid(); }
  /// The two counters now (two pread64 of 8 bytes; any thread). nullopt when unavailable or a read fails.
  [[nodiscard]] std::optional<VcpuCounters> read() const noexcept;

 private:
  KvmVcpuStats(common::UniqueFd fd, VcpuCounterOffsets offsets) noexcept : fd_(std::move(fd)), offsets_(offsets) {}

  common::UniqueFd fd_;
  VcpuCounterOffsets offsets_{};
};

}  // namespace snapfaas::runner
