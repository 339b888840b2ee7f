// KvmVcpu: vCPU creation, the kvm_run mapping and the per-vCPU state ioctls.
#include "runner/kvm/kvm_vcpu.h"

#include <sys/ioctl.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

#include "common/error.h"
#include "runner/kvm/kvm_abi.h"
#include "runner/kvm/kvm_ioctl.h"

namespace snapfaas::runner {

KvmRunMapping::KvmRunMapping(int vcpu_fd, std::size_t size) : size_(size) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd, 0);
  if (p == MAP_FAILED) throw common::sys_error("mmap kvm_run");
  run_ = static_cast<kvm_run*>(p);
}

KvmRunMapping::KvmRunMapping(KvmRunMapping&& other) noexcept
    : run_(std::exchange(other.run_, nullptr)), size_(std::exchange(other.size_, 0)) {}

KvmRunMapping& KvmRunMapping::operator=(KvmRunMapping&& other) noexcept {
  if (this != &other) {
    reset();
    run_ = std::exchange(other.run_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

KvmRunMapping::~KvmRunMapping() { reset(); }

void KvmRunMapping::reset() noexcept {
  if (run_ != nullptr) ::munmap(run_, size_);
  run_ = nullptr;
  size_ = 0;
}

KvmVcpu KvmVcpu::create(const KvmSystem& kvm, const KvmVm& vm, std::uint32_t id) {
  const std::string step = "KVM_CREATE_VCPU " + std::to_string(id);
  common::UniqueFd fd(common::check_sys(::ioctl(vm.fd(), KVM_CREATE_VCPU, static_cast<unsigned long>(id)), step));
  KvmRunMapping mapping(fd.get(), kvm.vcpu_mmap_size());
  KvmVcpuStats stats = KvmVcpuStats::open(fd.get());
  return KvmVcpu(std::move(fd), std::move(mapping), std::move(stats), id);
}

int KvmVcpu::run() noexcept {
  const int r = ::ioctl(fd_.get(), KVM_RUN, 0);
  return r < 0 ? -errno : 0;
}

void KvmVcpu::set_immediate_exit(bool on) noexcept {
  // The signal handler and the vCPU thread are the same thread; the fence orders the store before
  // the next KVM_RUN as seen by the kernel.
  run_struct().immediate_exit = on ? 1 : 0;
  std::atomic_signal_fence(std::memory_order_seq_cst);
}

namespace {

// kvm_cpuid2 / kvm_msrs: an 8-byte header followed by the entries, in one 8-byte-aligned buffer.
template <typename Header, typename Entry>
std::vector<std::uint64_t> with_header(std::uint32_t count, const Entry* entries) {
  std::vector<std::uint64_t> buf((sizeof(Header) + count * sizeof(Entry) + 7) / 8);
  // SAFETY: buf is 8-byte aligned and sized for the header plus `count` entries.
  auto* header = reinterpret_cast<std::uint32_t*>(buf.data());
  header[0] = count;
  if (entries != nullptr) std::memcpy(reinterpret_cast<std::uint8_t*>(buf.data()) + sizeof(Header), entries, count * sizeof(Entry));
  return buf;
}
}  // namespace

kvm_regs KvmVcpu::regs() const { return kvm_get<kvm_regs>(fd_.get(), KVM_GET_REGS, "KVM_GET_REGS"); }
void KvmVcpu::set_regs(const kvm_regs& r) { kvm_set(fd_.get(), KVM_SET_REGS, r, "KVM_SET_REGS"); }
kvm_sregs KvmVcpu::sregs() const { return kvm_get<kvm_sregs>(fd_.get(), KVM_GET_SREGS, "KVM_GET_SREGS"); }
void KvmVcpu::set_sregs(const kvm_sregs& s) { kvm_set(fd_.get(), KVM_SET_SREGS, s, "KVM_SET_SREGS"); }
kvm_fpu KvmVcpu::fpu() const { return kvm_get<kvm_fpu>(fd_.get(), KVM_GET_FPU, "KVM_GET_FPU"); }
void KvmVcpu::set_fpu(const kvm_fpu& f) { kvm_set(fd_.get(), KVM_SET_FPU, f, "KVM_SET_FPU"); }
kvm_lapic_state KvmVcpu::lapic() const {
  return kvm_get<kvm_lapic_state>(fd_.get(), KVM_GET_LAPIC, "KVM_GET_LAPIC");
}
void KvmVcpu::set_lapic(const kvm_lapic_state& l) { kvm_set(fd_.get(), KVM_SET_LAPIC, l, "KVM_SET_LAPIC"); }
kvm_mp_state KvmVcpu::mp_state() const {
  return kvm_get<kvm_mp_state>(fd_.get(), KVM_GET_MP_STATE, "KVM_GET_MP_STATE");
}
void KvmVcpu::set_mp_state(const kvm_mp_state& s) { kvm_set(fd_.get(), KVM_SET_MP_STATE, s, "KVM_SET_MP_STATE"); }

void KvmVcpu::set_cpuid(const std::vector<kvm_cpuid_entry2>& entries) {
  auto buf = with_header<kvm_abi::Cpuid2Header>(static_cast<std::uint32_t>(entries.size()), entries.data());
  common::check_sys(::ioctl(fd_.get(), kvm_abi::kSetCpuid2, buf.data()), "KVM_SET_CPUID2");
}

void KvmVcpu::set_msrs(const std::vector<kvm_msr_entry>& entries) {
  auto buf = with_header<kvm_abi::MsrsHeader>(static_cast<std::uint32_t>(entries.size()), entries.data());
  const int n = common::check_sys(::ioctl(fd_.get(), kvm_abi::kSetMsrs, buf.data()), "KVM_SET_MSRS");
  if (static_cast<std::size_t>(n) != entries.size()) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "%x", entries[static_cast<std::size_t>(n)].index);
    throw common::Error(std::string("KVM_SET_MSRS: MSR 0x") + hex + " rejected");
  }
}

std::vector<kvm_msr_entry> KvmVcpu::msrs(std::vector<kvm_msr_entry> entries) const {
  auto buf = with_header<kvm_abi::MsrsHeader>(static_cast<std::uint32_t>(entries.size()), entries.data());
  const int n = common::check_sys(::ioctl(fd_.get(), kvm_abi::kGetMsrs, buf.data()), "KVM_GET_MSRS");
  entries.resize(static_cast<std::size_t>(n));
  std::memcpy(entries.data(), reinterpret_cast<const std::uint8_t*>(buf.data()) + sizeof(kvm_abi::MsrsHeader),
              entries.size() * sizeof(kvm_msr_entry));
  return entries;
}

}  // namespace snapfaas::runner
