// Vmm snapshot glue: restore before run(), and the saver thread behind the ring-3 snapshot port.
#include "runner/snapshot/vmm_snapshot.h"

#include <spdlog/spdlog.h>

#include <cpuid.h>
#include <unistd.h>

#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "common/error.h"
#include "common/log_limit.h"
#include "ipc/guest_abi.h"
#include "runner/devices/virtio/net/net.h"
#include "runner/snapshot/device_snapshot.h"
#include "runner/snapshot/memory_file.h"
#include "runner/snapshot/snapshot_abi.h"
#include "runner/snapshot/vcpu_state.h"

namespace snapfaas::runner::snapshot {

namespace {
bool host_is_amd() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(0, &eax, &ebx, &ecx, &edx) == 0) return false;
  return ebx == 0x68747541 && edx == 0x69746e65 && ecx == 0x444d4163;  // "AuthenticAMD"
}

// KVM's SVM getter reports TR as a busy TSS (type 11) whatever the VMCB holds ("work around a bug
// where the busy flag isn't exposed", arch/x86/kvm/svm/svm.c), so a snapshot carries type 11.
// AMD's VMRUN does not care, but QEMU's TCG (the emulated KVM host) then refuses every port I/O
// permitted by the TSS I/O bitmap — the agent's doorbells after iopl(3) emulation — with #GP.
// On SVM hosts TR goes back as an available TSS (type 9), as the guest's LTR left it in the
// VMCB; VMX requires the busy type and keeps it.
void tss_type_for_svm(MicrovmState& state) {
  static const bool amd = host_is_amd();
  if (!amd) return;
  for (VcpuState& v : state.vcpus) {
    if (v.sregs.tr.type == 11) v.sregs.tr.type = 9;
  }
}

std::vector<KvmVcpu*> kvm_vcpus(Vmm& vmm) {
  std::vector<KvmVcpu*> out;
  for (std::size_t i = 0; i < vmm.vcpu_count(); ++i) out.push_back(&vmm.vcpu(i).kvm());
  return out;
}
}  // namespace

SnapshotId restore_vmm(Vmm& vmm, std::span<const std::string> dirs, const RestoreOptions& options,
                       bool dirty_logging, const AppImage& appfs, PreparedRestore* prepared) {
  return restore_vmm(vmm, load_snapshot(dirs), options, dirty_logging, appfs, prepared);
}

SnapshotId restore_vmm(Vmm& vmm, LoadedSnapshot snap, const RestoreOptions& options, bool dirty_logging,
                       const AppImage& appfs, PreparedRestore* prepared) {
  tss_type_for_svm(snap.state);
  if (snap.state.ring3 != vmm.ring3()) {
    throw common::Error(std::string("snapshot restore: snapshot is of a ") + (snap.state.ring3 ? "ring-3" : "Linux") +
                        " guest, --kernel is not");
  }
  const std::vector<KvmVcpu*> vcpus = kvm_vcpus(vmm);
  const RestoreTimings t = restore_into(vmm.vm(), vmm.memory(), vcpus, snap, options, dirty_logging, prepared);
  const auto devices_start = std::chrono::steady_clock::now();
  restore_devices(vmm, snap.state.devices, appfs);
  (void)vmm.memory().take_written();  // a later diff holds what was written after the restore
  const double devices_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - devices_start).count();
  spdlog::info("restored {} layer(s): memory {:.3f} ms, VM state {:.3f} ms, vCPU state {:.3f} ms, devices {:.3f} ms",
               snap.memory.size(), t.memory_ms, t.vm_state_ms, t.vcpu_state_ms, devices_ms);
  return snap.memory.back().header.id;
}

PreparedRestore prepare_vmm(Vmm& vmm, std::span<const std::string> candidate_dirs, const PrepareOptions& options) {
  LoadedSnapshot candidate = load_snapshot(candidate_dirs);
  return prepare_vmm(vmm, candidate, options);
}

PreparedRestore prepare_vmm(Vmm& vmm, LoadedSnapshot& candidate, const PrepareOptions& options) {
  tss_type_for_svm(candidate.state);
  const std::vector<KvmVcpu*> vcpus = kvm_vcpus(vmm);
  return prepare_restore(vmm.vm(), vmm.memory(), vcpus, candidate, options, vmm.config().dirty_log);
}

SnapshotTrigger::SnapshotTrigger(Vmm& vmm, SnapshotTriggerOptions options)
    : SnapshotTrigger(vmm, options.out_dir.empty() ? std::nullopt : std::optional(SnapshotDir::open(options.out_dir)),
                      {}) {
  arm(options.base, options.restored, options.ring3_port);
}

SnapshotTrigger::SnapshotTrigger(Vmm& vmm, std::optional<SnapshotDir> out_dir, std::function<void()> saver_thread_init)
    : vmm_(vmm), out_dir_(std::move(out_dir)) {
  // Without an output directory there is nothing to save: requests are answered inline, and no
  // saver thread is started.
  if (!out_dir_) return;
  // The saver reads every MSR KVM can save; the list comes from /dev/kvm, opened now (the saver
  // itself may open nothing but its snapshot files).
  if (vmm_.vcpu_count() > 0) (void)saveable_msrs(vmm_.vcpu(0).kvm());
  saver_ = std::thread([this, init = std::move(saver_thread_init)] { saver_main(init); });
}

void SnapshotTrigger::arm(std::optional<SnapshotId> base, bool restored, bool ring3_port) {
  {
    std::lock_guard lock(mutex_);
    base_ = base;
  }
  port_ = std::make_shared<SnapshotPort>(restored, [this](std::uint32_t) {
    if (out_dir_) {
      if (Vcpu* self = Vcpu::current()) self->request_pause();
    }
    wake_saver();
  });
  if (ring3_port) vmm_.pio().insert(port_, SNAPFAAS_PORT_SNAPSHOT, 4);
}

void SnapshotTrigger::request(std::uint32_t point) noexcept {
  bool diff = false;
  {
    std::lock_guard lock(mutex_);
    diff = base_.has_value();
  }
  const auto wanted = static_cast<std::uint32_t>(diff ? ipc::SnapshotPoint::kDiff : ipc::SnapshotPoint::kBase);
  if (!out_dir_ || point != wanted) {
    SNAPFAAS_LIMITED_LOG(spdlog::level::debug, "snapshot point {} reached: not saved (want {}{})", point, wanted,
                         out_dir_ ? "" : ", no --dump_dir");
    return;
  }
  if (Vcpu* self = Vcpu::current()) self->request_pause();  // the guest stops right after its port write
  wake_saver();
}

void SnapshotTrigger::wake_saver() noexcept {
  if (!out_dir_) {
    SNAPFAAS_LIMITED_LOG(spdlog::level::info, "snapshot point reached; no output directory, continuing");
    if (port_) port_->mark_taken();
    return;
  }
  {
    std::lock_guard lock(mutex_);
    requested_ = true;
  }
  cv_.notify_one();
}

SnapshotTrigger::~SnapshotTrigger() {
  {
    std::lock_guard lock(mutex_);
    quit_ = true;
  }
  cv_.notify_one();
  if (saver_.joinable()) saver_.join();
}

void SnapshotTrigger::saver_main(const std::function<void()>& thread_init) noexcept {
  if (thread_init) {
    try {
      thread_init();
    } catch (const std::exception& e) {
      vmm_.request_stop(1, std::string("snapshot saver thread: ") + e.what());
      return;
    }
  }
  while (true) {
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return requested_ || quit_; });
      if (quit_) return;
      requested_ = false;
    }
    try {
      save();
    } catch (const std::exception& e) {
      vmm_.request_stop(1, std::string("snapshot: ") + e.what());
      return;
    }
  }
}

void SnapshotTrigger::save() {
  for (std::size_t i = 0; i < vmm_.vcpu_count(); ++i) vmm_.vcpu(i).pause();
  for (std::size_t i = 0; i < vmm_.vcpu_count(); ++i) {
    if (vmm_.vcpu(i).state() == runner::VcpuState::kStopped) return;  // the VM is going away
  }
  std::optional<SnapshotId> base;
  {
    std::lock_guard lock(mutex_);
    base = base_;
  }
  // virtio-net receives on its own thread: stop its writes into guest memory while saving.
  for (const NetSlot& n : vmm_.devices().nets) n.net->pause();
  const std::vector<KvmVcpu*> vcpus = kvm_vcpus(vmm_);
  MicrovmState state = capture_microvm(vmm_.vm(), vmm_.memory(), vcpus, vmm_.ring3());
  state.devices = capture_devices(vmm_);
  std::vector<PageRange> vmm_written;  // pages the VMM wrote (KVM's dirty log has the guest's)
  for (const GpaRange& r : vmm_.memory().take_written()) vmm_written.push_back(ram_range_of(vmm_.memory(), r.gpa, r.length));
  const SavedSnapshot saved = save_snapshot(*out_dir_, state, vmm_.vm(), vmm_.memory(), base, vmm_written);
  std::uint64_t pages = 0;
  for (const PageRange& r : saved.ranges) pages += r.length / kPageSize;
  spdlog::info("snapshot {} written to {} ({} pages{})", to_hex(saved.id), out_dir_->path, pages, base ? ", diff" : "");
  // Straight to the descriptor: stdio's first use of stdout would probe it with an ioctl.
  static constexpr char kDone[] = "Snapshot generation succeeds\n";
  if (::write(STDOUT_FILENO, kDone, sizeof kDone - 1) < 0) spdlog::warn("snapshot: stdout: {}", std::strerror(errno));
  if (port_) port_->mark_taken();
  vmm_.request_stop(0);
}

}  // namespace snapfaas::runner::snapshot
