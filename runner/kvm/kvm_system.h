// KvmSystem: the open /dev/kvm handle and the system-wide facts read from it (API version,
// capabilities, supported CPUID, size of each vCPU's kvm_run mapping).
#pragma once

#include <linux/kvm.h>

#include <cstddef>
#include <string>
#include <vector>

#include "common/unique_fd.h"

namespace snapfaas::runner {

/// Owns the /dev/kvm fd. Created once per process; const methods are thread-safe.
class KvmSystem {
 public:
  /// Opens `path`, checks KVM_GET_API_VERSION == 12 and the capabilities the VMM relies on.
  /// Throws common::Error naming the step ("open /dev/kvm: No such file or directory").
  static KvmSystem open(const std::string& path = "/dev/kvm");

  [[nodiscard]] int fd() const noexcept { return fd_.get(); }
  [[nodiscard]] int api_version() const noexcept { return api_version_; }
  /// KVM_CHECK_EXTENSION result (0 when unsupported).
  [[nodiscard]] int check_extension(long cap) const noexcept;
  /// KVM_GET_SUPPORTED_CPUID, before any per-vCPU normalisation.
  [[nodiscard]] std::vector<kvm_cpuid_entry2> supported_cpuid() const;
  /// KVM_GET_VCPU_MMAP_SIZE: bytes of the kvm_run mapping (kvm_run + the PIO data page etc.).
  [[nodiscard]] std::size_t vcpu_mmap_size() const noexcept { return vcpu_mmap_size_; }

 private:
  KvmSystem(common::UniqueFd fd, int api, std::size_t mmap_size) noexcept
      : fd_(std::move(fd)), api_version_(api), vcpu_mmap_size_(mmap_size) {}

  common::UniqueFd fd_;
  int api_version_ = 0;
  std::size_t vcpu_mmap_size_ = 0;
};

}  // namespace snapfaas::runner
