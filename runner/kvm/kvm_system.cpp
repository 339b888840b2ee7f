// KvmSystem: /dev/kvm, API version and capability checks.
#include "runner/kvm/kvm_system.h"

#include <fcntl.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>

#include "common/error.h"
#include "runner/kvm/kvm_abi.h"

namespace snapfaas::runner {

namespace {
constexpr int kKvmApiVersion = 12;  // KVM API doc §4.1: "this is 12 and will not change"
constexpr int kMaxCpuidEntries = 256;

struct Required {
  long cap;
  const char* name;
};
// Capabilities used unconditionally by the VMM (irqchip/PIT are checked only when requested).
constexpr Required kRequired[] = {
    {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
    {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
    {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
    {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
};
}  // namespace

KvmSystem KvmSystem::open(const std::string& path) {
  common::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd) throw common::sys_error("open " + path);
  const int api = common::check_sys(::ioctl(fd.get(), KVM_GET_API_VERSION, 0), "KVM_GET_API_VERSION");
  if (api != kKvmApiVersion) {
    throw common::Error("KVM_GET_API_VERSION: " + std::to_string(api) + ", expected " +
                        std::to_string(kKvmApiVersion));
  }
  for (const Required& r : kRequired) {
    if (::ioctl(fd.get(), KVM_CHECK_EXTENSION, r.cap) <= 0) {
      throw common::Error(std::string("KVM_CHECK_EXTENSION ") + r.name + ": not supported");
    }
  }
  const int size = common::check_sys(::ioctl(fd.get(), KVM_GET_VCPU_MMAP_SIZE, 0), "KVM_GET_VCPU_MMAP_SIZE");
  if (static_cast<std::size_t>(size) < sizeof(kvm_run)) {
    throw common::Error("KVM_GET_VCPU_MMAP_SIZE: " + std::to_string(size) + " is smaller than kvm_run");
  }
  return KvmSystem(std::move(fd), api, static_cast<std::size_t>(size));
}

int KvmSystem::check_extension(long cap) const noexcept {
  const int r = ::ioctl(fd_.get(), KVM_CHECK_EXTENSION, cap);
  return r < 0 ? 0 : r;
}

std::vector<kvm_cpuid_entry2> KvmSystem::supported_cpuid() const {
  // Header (8 bytes) followed by the entries, in one 8-byte-aligned buffer.
  std::vector<std::uint64_t> buf((sizeof(kvm_abi::Cpuid2Header) + kMaxCpuidEntries * sizeof(kvm_cpuid_entry2)) / 8);
  // SAFETY: buf is 8-byte aligned and holds the header plus kMaxCpuidEntries entries.
  auto* header = reinterpret_cast<kvm_abi::Cpuid2Header*>(buf.data());
  header->nent = kMaxCpuidEntries;
  common::check_sys(::ioctl(fd_.get(), kvm_abi::kGetSupportedCpuid, buf.data()), "KVM_GET_SUPPORTED_CPUID");
  if (header->nent > kMaxCpuidEntries) throw common::Error("KVM_GET_SUPPORTED_CPUID: bad entry count");
  std::vector<kvm_cpuid_entry2> entries(header->nent);
  std::memcpy(entries.data(), reinterpret_cast<const std::uint8_t*>(buf.data()) + sizeof(kvm_abi::Cpuid2Header),
              entries.size() * sizeof(kvm_cpuid_entry2));
  return entries;
}

}  // namespace snapfaas::runner
