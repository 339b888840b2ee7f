// vCPU state ioctls (KVM API doc 4.x): the getters/setters KvmVcpu does not already have.
#include "runner/snapshot/vcpu_state.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>

#include "common/error.h"
#include "common/unique_fd.h"
#include "runner/kvm/kvm_abi.h"
#include "runner/kvm/kvm_ioctl.h"

namespace snapfaas::runner::snapshot {

namespace {
constexpr std::uint32_t kMsrTscDeadline = 0x6e0;

// struct kvm_msr_list without its flexible tail (see kvm_abi.h for why).
struct MsrListHeader {
  std::uint32_t nmsrs;
};
constexpr unsigned long kGetMsrIndexList = _IOWR(KVMIO, 0x02, MsrListHeader);
constexpr unsigned long kGetXsave = _IOR(KVMIO, 0xa4, XsaveArea);
constexpr unsigned long kSetXsave = _IOW(KVMIO, 0xa5, XsaveArea);


std::vector<std::uint32_t> msr_index_list() {
  common::UniqueFd kvm(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
  if (!kvm) throw common::sys_error("open /dev/kvm for KVM_GET_MSR_INDEX_LIST");
  MsrListHeader probe{0};
  if (::ioctl(kvm.get(), kGetMsrIndexList, &probe) < 0 && errno != E2BIG) {
    throw common::sys_error("KVM_GET_MSR_INDEX_LIST");
  }
  std::vector<std::uint32_t> buf(1 + probe.nmsrs);
  buf[0] = probe.nmsrs;
  common::check_sys(::ioctl(kvm.get(), kGetMsrIndexList, buf.data()), "KVM_GET_MSR_INDEX_LIST");
  return {buf.begin() + 1, buf.begin() + 1 + buf[0]};
}

// KVM_SET_MSRS stops at the first entry it rejects and returns how many it set.
void set_msrs_tolerant(KvmVcpu& vcpu, std::vector<kvm_msr_entry> entries) {
  while (!entries.empty()) {
    std::vector<std::uint64_t> buf(1 + entries.size() * 2);
    const kvm_abi::MsrsHeader header{static_cast<std::uint32_t>(entries.size()), 0};
    std::memcpy(buf.data(), &header, sizeof header);
    std::memcpy(buf.data() + 1, entries.data(), entries.size() * sizeof(kvm_msr_entry));
    const int n = common::check_sys(::ioctl(vcpu.fd(), kvm_abi::kSetMsrs, buf.data()), "KVM_SET_MSRS");
    if (static_cast<std::size_t>(n) >= entries.size()) return;
    spdlog::debug("KVM_SET_MSRS: MSR {:#x} rejected on restore, skipped", entries[static_cast<std::size_t>(n)].index);
    entries.erase(entries.begin(), entries.begin() + n + 1);
  }
}
}  // namespace

void complete_pending_io(KvmVcpu& vcpu) {
  vcpu.set_immediate_exit(true);
  const int r = vcpu.run();
  vcpu.set_immediate_exit(false);
  if (r != -EINTR && r != 0) throw common::sys_error("KVM_RUN (immediate_exit, completing pending I/O)", -r);
}

const std::vector<std::uint32_t>& saveable_msrs(KvmVcpu& vcpu) {
  static std::once_flag once;
  static std::vector<std::uint32_t> indices;
  std::call_once(once, [&] {
    std::vector<kvm_msr_entry> want;
    for (std::uint32_t i : msr_index_list()) want.push_back(kvm_msr_entry{i, 0, 0});
    // KVM_GET_MSRS stops at the first MSR it cannot read: drop it and go on.
    std::size_t start = 0;
    while (start < want.size()) {
      std::vector<kvm_msr_entry> rest(want.begin() + static_cast<std::ptrdiff_t>(start), want.end());
      const std::size_t got = vcpu.msrs(rest).size();
      for (std::size_t k = 0; k < got; ++k) indices.push_back(rest[k].index);
      start += got + 1;  // skip the unreadable one
    }
  });
  return indices;
}

VcpuState capture_vcpu_state(KvmVcpu& vcpu, bool in_kernel_lapic) {
  VcpuState s;
  const int fd = vcpu.fd();
  s.regs = vcpu.regs();
  s.sregs = vcpu.sregs();
  s.xsave = kvm_get<XsaveArea>(fd, kGetXsave, "KVM_GET_XSAVE");
  s.xcrs = kvm_get<kvm_xcrs>(fd, KVM_GET_XCRS, "KVM_GET_XCRS");
  std::vector<kvm_msr_entry> want;
  for (std::uint32_t i : saveable_msrs(vcpu)) want.push_back(kvm_msr_entry{i, 0, 0});
  s.msrs = vcpu.msrs(want);
  if (s.msrs.size() != want.size()) throw common::Error("KVM_GET_MSRS: read fewer MSRs than at the probe");
  s.has_lapic = in_kernel_lapic;
  if (in_kernel_lapic) s.lapic = vcpu.lapic();
  s.events = kvm_get<kvm_vcpu_events>(fd, KVM_GET_VCPU_EVENTS, "KVM_GET_VCPU_EVENTS");
  s.mp_state = vcpu.mp_state();
  return s;
}

void apply_vcpu_state(KvmVcpu& vcpu, const VcpuState& s) {
  const int fd = vcpu.fd();
  vcpu.set_sregs(s.sregs);
  vcpu.set_regs(s.regs);
  kvm_set(fd, kSetXsave, s.xsave, "KVM_SET_XSAVE");
  kvm_set(fd, KVM_SET_XCRS, s.xcrs, "KVM_SET_XCRS");
  std::vector<kvm_msr_entry> msrs;
  std::vector<kvm_msr_entry> deadline;
  for (const kvm_msr_entry& m : s.msrs) (m.index == kMsrTscDeadline ? deadline : msrs).push_back(m);
  set_msrs_tolerant(vcpu, msrs);
  if (s.has_lapic) vcpu.set_lapic(s.lapic);
  if (!deadline.empty()) set_msrs_tolerant(vcpu, deadline);
  kvm_set(fd, KVM_SET_VCPU_EVENTS, s.events, "KVM_SET_VCPU_EVENTS");
  vcpu.set_mp_state(s.mp_state);
}

}  // namespace snapfaas::runner::snapshot
