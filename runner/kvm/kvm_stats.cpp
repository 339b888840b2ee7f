// KvmVcpuStats: pf_taken and exits from a vCPU's binary statistics file (see kvm_stats.h).
#include "runner/kvm/kvm_stats.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstring>
#include <string_view>
#include <vector>

namespace snapfaas::runner {
namespace {

// Bounds on what a statistics file may declare before we allocate for it (6.1 has ~50 vCPU
// descriptors of 48-byte names).
constexpr std::uint32_t kMaxNameSize = 256;
constexpr std::uint32_t kMaxDescriptors = 4096;

// The header's sizes within those bounds (checked before anything is allocated or read by them).
[[nodiscard]] bool header_in_bounds(const kvm_stats_header& header) noexcept {
  return header.name_size != 0 && header.name_size <= kMaxNameSize && header.num_desc <= kMaxDescriptors;
}

template <typename T>
T field(std::span<const std::uint8_t> bytes, std::size_t at) noexcept {
  T v{};
  std::memcpy(&v, bytes.data() + at, sizeof v);
  return v;
}

}  // namespace

std::optional<VcpuCounterOffsets> find_vcpu_counters(const kvm_stats_header& header,
                                                     std::span<const std::uint8_t> descriptors) noexcept {
  if (!header_in_bounds(header)) return std::nullopt;
  const std::size_t stride = kStatsDescFixedBytes + header.name_size;
  if (descriptors.size() != stride * header.num_desc) return std::nullopt;
  std::optional<std::uint64_t> page_faults, exits;
  for (std::uint32_t i = 0; i < header.num_desc; ++i) {
    const std::span<const std::uint8_t> d = descriptors.subspan(i * stride, stride);
    const auto* name_start = reinterpret_cast<const char*>(d.data() + kStatsDescFixedBytes);
    const std::size_t name_len = ::strnlen(name_start, header.name_size);
    if (name_len == header.name_size) return std::nullopt;  // not terminated inside its field
    const std::string_view name(name_start, name_len);
    std::optional<std::uint64_t>* want = name == "pf_taken" ? &page_faults : name == "exits" ? &exits : nullptr;
    if (want == nullptr) continue;
    const auto flags = field<std::uint32_t>(d, 0);
    const auto size = field<std::uint16_t>(d, 6);
    const auto offset = field<std::uint32_t>(d, 8);
    if ((flags & KVM_STATS_TYPE_MASK) != KVM_STATS_TYPE_CUMULATIVE || size != 1) return std::nullopt;
    *want = std::uint64_t{header.data_offset} + offset;
  }
  if (!page_faults || !exits) return std::nullopt;
  return VcpuCounterOffsets{*page_faults, *exits};
}

KvmVcpuStats KvmVcpuStats::open(int vcpu_fd) noexcept {
  common::UniqueFd fd(::ioctl(vcpu_fd, KVM_GET_STATS_FD, nullptr));
  if (!fd.valid()) return {};
  kvm_stats_header header{};
  if (::pread(fd.get(), &header, sizeof header, 0) != static_cast<ssize_t>(sizeof header)) return {};
  if (!header_in_bounds(header)) return {};
  std::vector<std::uint8_t> descriptors((kStatsDescFixedBytes + header.name_size) * header.num_desc);
  if (::pread(fd.get(), descriptors.data(), descriptors.size(), header.desc_offset) !=
      static_cast<ssize_t>(descriptors.size())) {
    return {};
  }
  const std::optional<VcpuCounterOffsets> offsets = find_vcpu_counters(header, descriptors);
  if (!offsets) return {};
  KvmVcpuStats stats(std::move(fd), *offsets);
  if (!stats.read()) return {};  // offsets past the data: unusable
  return stats;
}

std::optional<VcpuCounters> KvmVcpuStats::read() const noexcept {
  if (!fd_.valid()) return std::nullopt;
  VcpuCounters c;
  if (::pread(fd_.get(), &c.page_faults, sizeof c.page_faults, static_cast<off_t>(offsets_.page_faults)) !=
          static_cast<ssize_t>(sizeof c.page_faults) ||
      ::pread(fd_.get(), &c.exits, sizeof c.exits, static_cast<off_t>(offsets_.exits)) !=
          static_cast<ssize_t>(sizeof c.exits)) {
    return std::nullopt;
  }
  return c;
}

}  // namespace snapfaas::runner
