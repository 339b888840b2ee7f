// CPUID normalisation per vCPU.
#include "runner/kvm/cpuid.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace snapfaas::runner {

namespace {
constexpr std::uint32_t kLeafFeatures = 0x1;
constexpr std::uint32_t kLeafCacheParams = 0x4;
constexpr std::uint32_t kLeafTopology = 0xb;
constexpr std::uint32_t kLeafTopologyV2 = 0x1f;
constexpr std::uint32_t kLeafKvmSignature = 0x40000000;
constexpr std::uint32_t kLeafKvmFeatures = 0x40000001;
constexpr std::uint32_t kLeafAmdSizes = 0x80000008;

constexpr std::uint32_t kEcxHypervisor = 1u << 31;
constexpr std::uint32_t kEdxHtt = 1u << 28;
constexpr std::uint32_t kClflushLineSize = 8;  // in 8-byte units: 64-byte lines

// Topology level types (Intel SDM, CPUID leaf 0BH: ECX[15:8]).
constexpr std::uint32_t kLevelSmt = 1;
constexpr std::uint32_t kLevelCore = 2;

std::uint32_t bits_for(std::uint32_t count) {
  return count <= 1 ? 0 : static_cast<std::uint32_t>(std::bit_width(count - 1));
}

void set_topology(kvm_cpuid_entry2& e, std::uint32_t index, std::uint32_t count) {
  e.edx = index;  // x2APIC ID
  switch (e.index) {
    case 0:  // SMT level: one thread per core
      e.eax = 0;
      e.ebx = 1;
      e.ecx = (kLevelSmt << 8) | 0;
      break;
    case 1:  // core level: `count` cores per package
      e.eax = bits_for(count);
      e.ebx = count;
      e.ecx = (kLevelCore << 8) | 1;
      break;
    default:  // invalid level terminates the enumeration
      e.eax = 0;
      e.ebx = 0;
      e.ecx = e.index;
      break;
  }
}

bool has_leaf(const std::vector<kvm_cpuid_entry2>& v, std::uint32_t function) {
  return std::any_of(v.begin(), v.end(), [&](const kvm_cpuid_entry2& e) { return e.function == function; });
}
}  // namespace

std::vector<kvm_cpuid_entry2> normalize_cpuid(std::vector<kvm_cpuid_entry2> entries, std::uint32_t index,
                                              std::uint32_t count) {
  if (count == 0) count = 1;
  for (kvm_cpuid_entry2& e : entries) {
    switch (e.function) {
      case kLeafFeatures:
        e.ebx = (index << 24) | (std::min(count, 255u) << 16) | (kClflushLineSize << 8) | (e.ebx & 0xff);
        e.ecx |= kEcxHypervisor;
        if (count > 1) {
          e.edx |= kEdxHtt;
        } else {
          e.edx &= ~kEdxHtt;
        }
        break;
      case kLeafCacheParams: {
        // EAX[31:26]: cores per package - 1; EAX[25:14]: threads sharing this cache - 1.
        const std::uint32_t level = (e.eax >> 5) & 0x7;
        const std::uint32_t sharing = level >= 3 ? count - 1 : 0;
        e.eax = (e.eax & 0x3fff) | (sharing << 14) | ((count - 1) << 26);
        break;
      }
      case kLeafTopology:
      case kLeafTopologyV2:
        set_topology(e, index, count);
        break;
      case kLeafAmdSizes:
        // ECX[7:0]: number of cores - 1; ECX[15:12]: APIC ID size.
        e.ecx = (e.ecx & ~0xf0ffu) | (bits_for(count) << 12) | (count - 1);
        break;
      default:
        break;
    }
  }
  // The KVM leaves tell Linux it runs on KVM (paravirt clock etc.). KVM normally lists them;
  // add the signature when the host did not.
  if (!has_leaf(entries, kLeafKvmSignature)) {
    kvm_cpuid_entry2 sig{};
    sig.function = kLeafKvmSignature;
    sig.eax = kLeafKvmFeatures;
    std::memcpy(&sig.ebx, "KVMK", 4);
    std::memcpy(&sig.ecx, "VMKV", 4);
    std::memcpy(&sig.edx, "M\0\0\0", 4);
    entries.push_back(sig);
  }
  return entries;
}

}  // namespace snapfaas::runner
