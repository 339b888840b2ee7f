// KvmVcpu: one vCPU fd, its shared kvm_run mapping, and the per-vCPU state ioctls.
#pragma once

#include <linux/kvm.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "common/unique_fd.h"
#include "runner/kvm/kvm_stats.h"
#include "runner/kvm/kvm_system.h"
#include "runner/kvm/kvm_vm.h"

namespace snapfaas::runner {

/// The mmap of a vCPU fd holding `struct kvm_run` (+ the PIO data page). Unmapped on destruction.
class KvmRunMapping {
 public:
  KvmRunMapping() noexcept = default;
  /// mmap(vcpu_fd, size). Throws common::Error.
  KvmRunMapping(int vcpu_fd, std::size_t size);
  KvmRunMapping(const KvmRunMapping&) = delete;
  KvmRunMapping& operator=(const KvmRunMapping&) = delete;
  KvmRunMapping(KvmRunMapping&& other) noexcept;
  KvmRunMapping& operator=(KvmRunMapping&& other) noexcept;
  ~KvmRunMapping();

  [[nodiscard]] kvm_run& run() const noexcept { return *run_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }

 private:
  void reset() noexcept;
  kvm_run* run_ = nullptr;
  std::size_t size_ = 0;
};

/// Owns a vCPU fd and its kvm_run mapping. State ioctls throw common::Error naming the ioctl and
/// must be called from setup code or from the vCPU's own thread while it is not in KVM_RUN.
class KvmVcpu {
 public:
  /// KVM_CREATE_VCPU `id` (also its APIC ID), maps kvm_run and opens its statistics (counters()).
  static KvmVcpu create(const KvmSystem& kvm, const KvmVm& vm, std::uint32_t id);

  [[nodiscard]] int fd() const noexcept { return fd_.get(); }
  [[nodiscard]] std::uint32_t id() const noexcept { return id_; }
  [[nodiscard]] kvm_run& run_struct() const noexcept { return mapping_.run(); }
  [[nodiscard]] std::size_t run_size() const noexcept { return mapping_.size(); }
  /// KVM's page-fault and exit counts for this vCPU since its creation (any thread); nullopt
  /// when this kernel has no statistics file for it.
  [[nodiscard]] std::optional<VcpuCounters> counters() const noexcept { return stats_.read(); }

  /// KVM_RUN once. Returns 0 or -errno (EINTR after a kick). Hot path: never throws.
  [[nodiscard]] int run() noexcept;
  /// Sets kvm_run.immediate_exit; safe from a signal handler on the vCPU thread.
  void set_immediate_exit(bool on) noexcept;

  [[nodiscard]] kvm_regs regs() const;
  void set_regs(const kvm_regs& regs);
  [[nodiscard]] kvm_sregs sregs() const;
  void set_sregs(const kvm_sregs& sregs);
  [[nodiscard]] kvm_fpu fpu() const;
  void set_fpu(const kvm_fpu& fpu);
  [[nodiscard]] kvm_lapic_state lapic() const;
  void set_lapic(const kvm_lapic_state& lapic);
  [[nodiscard]] kvm_mp_state mp_state() const;
  void set_mp_state(const kvm_mp_state& state);
  /// KVM_SET_CPUID2 with `entries`.
  void set_cpuid(const std::vector<kvm_cpuid_entry2>& entries);
  /// KVM_SET_MSRS; throws unless every entry was accepted.
  void set_msrs(const std::vector<kvm_msr_entry>& entries);
  /// KVM_GET_MSRS for the indices in `entries` (data filled in).
  [[nodiscard]] std::vector<kvm_msr_entry> msrs(std::vector<kvm_msr_entry> entries) const;

 private:
  KvmVcpu(common::UniqueFd fd, KvmRunMapping mapping, KvmVcpuStats stats, std::uint32_t id) noexcept
      : fd_(std::move(fd)), mapping_(std::move(mapping)), stats_(std::move(stats)), id_(id) {}

  common::UniqueFd fd_;
  KvmRunMapping mapping_;
  KvmVcpuStats stats_;
  std::uint32_t id_ = 0;
};

}  // namespace snapfaas::runner
