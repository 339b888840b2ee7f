// C++-safe views of the KVM structs that end in a flexible array. linux-libc-dev 6.1's
// __DECLARE_FLEX_ARRAY wraps the array in a struct holding an empty struct, which is 1 byte in C++
// (0 in C): sizeof(kvm_cpuid2) becomes 12 instead of 8, the entries move, and the ioctl numbers
// (which encode the size) no longer match the kernel's. Use these headers and numbers instead.
// The same applies to kvm_xsave and KVM_GET/SET_XSAVE. The seccomp filters allow these numbers.
#pragma once

#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cstddef>
#include <cstdint>

namespace snapfaas::runner::kvm_abi {

/// struct kvm_cpuid2 without its entries (KVM API doc 4.46); entries follow at offset 8.
struct Cpuid2Header {
  std::uint32_t nent;
  std::uint32_t padding;
};
/// struct kvm_msrs without its entries (KVM API doc 4.18); entries follow at offset 8.
struct MsrsHeader {
  std::uint32_t nmsrs;
  std::uint32_t pad;
};
static_assert(sizeof(Cpuid2Header) == 8 && sizeof(MsrsHeader) == 8);
static_assert(sizeof(kvm_cpuid_entry2) == 40 && sizeof(kvm_msr_entry) == 16);

/// struct kvm_xsave's fixed 4 KiB region (KVM API doc 4.42), without the flexible tail.
struct XsaveRegion {
  std::uint32_t region[1024];
};
static_assert(sizeof(XsaveRegion) == 4096);

inline constexpr unsigned long kGetSupportedCpuid = _IOWR(KVMIO, 0x05, Cpuid2Header);
inline constexpr unsigned long kSetCpuid2 = _IOW(KVMIO, 0x90, Cpuid2Header);
inline constexpr unsigned long kGetMsrs = _IOWR(KVMIO, 0x88, MsrsHeader);
inline constexpr unsigned long kSetMsrs = _IOW(KVMIO, 0x89, MsrsHeader);
inline constexpr unsigned long kGetXsave = _IOR(KVMIO, 0xa4, XsaveRegion);
inline constexpr unsigned long kSetXsave = _IOW(KVMIO, 0xa5, XsaveRegion);

}  // namespace snapfaas::runner::kvm_abi
