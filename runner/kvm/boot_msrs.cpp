// Boot-time MSR values.
#include "runner/kvm/boot_msrs.h"

#include <cstdint>

namespace snapfaas::runner {

namespace {
// Intel SDM vol. 4 MSR indices.
constexpr std::uint32_t kMsrSysenterCs = 0x174;
constexpr std::uint32_t kMsrSysenterEsp = 0x175;
constexpr std::uint32_t kMsrSysenterEip = 0x176;
constexpr std::uint32_t kMsrStar = 0xc0000081;
constexpr std::uint32_t kMsrLstar = 0xc0000082;
constexpr std::uint32_t kMsrCstar = 0xc0000083;
constexpr std::uint32_t kMsrSyscallMask = 0xc0000084;
constexpr std::uint32_t kMsrKernelGsBase = 0xc0000102;
constexpr std::uint32_t kMsrTsc = 0x10;
constexpr std::uint32_t kMsrMiscEnable = 0x1a0;
constexpr std::uint32_t kMsrMtrrDefType = 0x2ff;

constexpr std::uint64_t kMiscEnableFastString = 1;
constexpr std::uint64_t kMtrrEnable = 1u << 11;
constexpr std::uint64_t kMemTypeWriteBack = 6;

kvm_msr_entry entry(std::uint32_t index, std::uint64_t data) {
  kvm_msr_entry e{};
  e.index = index;
  e.data = data;
  return e;
}
}  // namespace

std::vector<kvm_msr_entry> boot_msrs() {
  return {
      entry(kMsrSysenterCs, 0),    entry(kMsrSysenterEsp, 0),    entry(kMsrSysenterEip, 0),
      entry(kMsrStar, 0),          entry(kMsrCstar, 0),          entry(kMsrKernelGsBase, 0),
      entry(kMsrSyscallMask, 0),   entry(kMsrLstar, 0),          entry(kMsrTsc, 0),
      entry(kMsrMiscEnable, kMiscEnableFastString), entry(kMsrMtrrDefType, kMtrrEnable | kMemTypeWriteBack),
  };
}

}  // namespace snapfaas::runner
