// vCPU state ioctls (KVM API doc 4.x): the getters/setters KvmVcpu does not already have.
#include "runner/snapshot/vcpu_state.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <string>
#include <type_traits>

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
constexpr unsigned long kGetXsave = kvm_abi::kGetXsave;
constexpr unsigned long kSetXsave = kvm_abi::kSetXsave;
static_assert(sizeof(XsaveArea) == sizeof(kvm_abi::XsaveRegion));


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

// MSR indices KVM_SET_MSRS rejected on this host (host-initiated writes KVM refuses, e.g. read-only
// feature MSRs): learned on the first restore so that later ones need a single ioctl.
std::mutex rejected_mutex;
std::vector<std::uint32_t> rejected_msrs;  // guarded by rejected_mutex

bool known_rejected(std::uint32_t index) {
  std::lock_guard lock(rejected_mutex);
  return std::find(rejected_msrs.begin(), rejected_msrs.end(), index) != rejected_msrs.end();
}

// KVM_SET_MSRS stops at the first entry it rejects and returns how many it set. Returns the number
// of ioctls made.
std::uint32_t set_msrs_tolerant(KvmVcpu& vcpu, std::vector<kvm_msr_entry> entries) {
  std::uint32_t ioctls = 0;
  std::erase_if(entries, [](const kvm_msr_entry& m) { return known_rejected(m.index); });
  while (!entries.empty()) {
    ++ioctls;
    std::vector<std::uint64_t> buf(1 + entries.size() * 2);
    const kvm_abi::MsrsHeader header{static_cast<std::uint32_t>(entries.size()), 0};
    std::memcpy(buf.data(), &header, sizeof header);
    std::memcpy(buf.data() + 1, entries.data(), entries.size() * sizeof(kvm_msr_entry));
    const int n = common::check_sys(::ioctl(vcpu.fd(), kvm_abi::kSetMsrs, buf.data()), "KVM_SET_MSRS");
    if (static_cast<std::size_t>(n) >= entries.size()) return ioctls;
    const std::uint32_t bad = entries[static_cast<std::size_t>(n)].index;
    spdlog::debug("KVM_SET_MSRS: MSR {:#x} rejected on restore, skipped (and left out from now on)", bad);
    {
      std::lock_guard lock(rejected_mutex);
      rejected_msrs.push_back(bad);
    }
    entries.erase(entries.begin(), entries.begin() + n + 1);
  }
  return ioctls;
}

template <typename T>
bool same_bytes(const T& a, const T& b) {
  static_assert(std::is_trivially_copyable_v<T>);
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

// Times one step into `field` of `stats` (when given).
class StepTimer {
 public:
  StepTimer(VcpuApplyStats* stats, double VcpuApplyStats::*field) noexcept
      : stats_(stats), field_(field), t0_(std::chrono::steady_clock::now()) {}
  ~StepTimer() {
    if (stats_ != nullptr) {
      stats_->*field_ += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0_).count();
    }
  }
  StepTimer(const StepTimer&) = delete;
  StepTimer& operator=(const StepTimer&) = delete;

 private:
  VcpuApplyStats* stats_;
  double VcpuApplyStats::*field_;
  std::chrono::steady_clock::time_point t0_;
};
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

void apply_vcpu_state(KvmVcpu& vcpu, const VcpuState& s, const VcpuState* current, VcpuApplyStats* stats) {
  const int fd = vcpu.fd();
  VcpuApplyStats local;
  VcpuApplyStats& st = stats != nullptr ? *stats : local;
  // A part equal to what KVM already holds is skipped; `current` must describe this vCPU exactly.
  auto needed = [&](bool equal) {
    if (current != nullptr && equal) {
      ++st.skipped;
      return false;
    }
    ++st.ioctls;
    return true;
  };
  {
    StepTimer t(stats, &VcpuApplyStats::sregs_ms);
    if (needed(current != nullptr && same_bytes(current->sregs, s.sregs))) vcpu.set_sregs(s.sregs);
  }
  {
    StepTimer t(stats, &VcpuApplyStats::regs_ms);
    ++st.ioctls;
    vcpu.set_regs(s.regs);
  }
  {
    StepTimer t(stats, &VcpuApplyStats::xsave_ms);
    if (needed(current != nullptr && current->xsave == s.xsave)) kvm_set(fd, kSetXsave, s.xsave, "KVM_SET_XSAVE");
  }
  {
    StepTimer t(stats, &VcpuApplyStats::xcrs_ms);
    if (needed(current != nullptr && same_bytes(current->xcrs, s.xcrs))) kvm_set(fd, KVM_SET_XCRS, s.xcrs, "KVM_SET_XCRS");
  }
  // Without an in-kernel LAPIC nothing resets the TSC deadline in between: one KVM_SET_MSRS.
  std::vector<kvm_msr_entry> msrs;
  std::vector<kvm_msr_entry> deadline;
  for (const kvm_msr_entry& m : s.msrs) (s.has_lapic && m.index == kMsrTscDeadline ? deadline : msrs).push_back(m);
  {
    StepTimer t(stats, &VcpuApplyStats::msrs_ms);
    st.ioctls += set_msrs_tolerant(vcpu, std::move(msrs));
  }
  if (s.has_lapic) {
    StepTimer t(stats, &VcpuApplyStats::lapic_ms);
    ++st.ioctls;
    vcpu.set_lapic(s.lapic);
    st.ioctls += set_msrs_tolerant(vcpu, std::move(deadline));
  }
  {
    StepTimer t(stats, &VcpuApplyStats::events_ms);
    if (needed(current != nullptr && same_bytes(current->events, s.events))) {
      kvm_set(fd, KVM_SET_VCPU_EVENTS, s.events, "KVM_SET_VCPU_EVENTS");
    }
  }
  {
    StepTimer t(stats, &VcpuApplyStats::mp_state_ms);
    if (needed(current != nullptr && same_bytes(current->mp_state, s.mp_state))) vcpu.set_mp_state(s.mp_state);
  }
}

}  // namespace snapfaas::runner::snapshot
