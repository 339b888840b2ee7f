// Vmm snapshot glue: restore before run(), and the saver thread behind the ring-3 snapshot port.
#include "runner/snapshot/vmm_snapshot.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <vector>

#include "common/error.h"
#include "runner/snapshot/snapshot_abi.h"

namespace snapfaas::runner::snapshot {

namespace {
std::vector<KvmVcpu*> kvm_vcpus(Vmm& vmm) {
  std::vector<KvmVcpu*> out;
  for (std::size_t i = 0; i < vmm.vcpu_count(); ++i) out.push_back(&vmm.vcpu(i).kvm());
  return out;
}
}  // namespace

SnapshotId restore_vmm(Vmm& vmm, std::span<const std::string> dirs, const RestoreOptions& options,
                       bool dirty_logging) {
  const LoadedSnapshot snap = load_snapshot(dirs);
  if (snap.state.ring3 != vmm.ring3()) {
    throw common::Error(std::string("snapshot restore: snapshot is of a ") + (snap.state.ring3 ? "ring-3" : "Linux") +
                        " guest, --kernel is not");
  }
  const std::vector<KvmVcpu*> vcpus = kvm_vcpus(vmm);
  const RestoreTimings t = restore_into(vmm.vm(), vmm.memory(), vcpus, snap, options, dirty_logging);
  spdlog::info("restored {} layer(s): memory {:.3f} ms, VM state {:.3f} ms, vCPU state {:.3f} ms", dirs.size(),
               t.memory_ms, t.vm_state_ms, t.vcpu_state_ms);
  return snap.memory.back().header.id;
}

SnapshotPoint::SnapshotPoint(Vmm& vmm, std::string out_dir, std::optional<SnapshotId> base, bool restored,
                             bool exit_after)
    : vmm_(vmm), out_dir_(std::move(out_dir)), base_(base), exit_after_(exit_after) {
  port_ = std::make_shared<SnapshotPort>(restored, [this](std::uint32_t) {
    {
      std::lock_guard lock(mutex_);
      requested_ = true;
    }
    cv_.notify_one();
  });
  vmm_.pio().insert(port_, SNAPFAAS_PORT_SNAPSHOT, 4);
  saver_ = std::thread([this] { saver_main(); });
}

SnapshotPoint::~SnapshotPoint() {
  {
    std::lock_guard lock(mutex_);
    quit_ = true;
  }
  cv_.notify_one();
  if (saver_.joinable()) saver_.join();
}

void SnapshotPoint::saver_main() noexcept {
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

void SnapshotPoint::save() {
  if (out_dir_.empty()) {  // restored without --snapshot-out: let the guest go on
    spdlog::info("snapshot point reached; no output directory, continuing");
    port_->mark_taken();
    return;
  }
  for (std::size_t i = 0; i < vmm_.vcpu_count(); ++i) vmm_.vcpu(i).pause();
  for (std::size_t i = 0; i < vmm_.vcpu_count(); ++i) {
    if (vmm_.vcpu(i).state() == runner::VcpuState::kStopped) return;  // the VM is going away
  }
  const std::vector<KvmVcpu*> vcpus = kvm_vcpus(vmm_);
  const MicrovmState state = capture_microvm(vmm_.vm(), vmm_.memory(), vcpus, vmm_.ring3());
  const SavedSnapshot saved = save_snapshot(out_dir_, state, vmm_.vm(), vmm_.memory(), base_);
  std::uint64_t pages = 0;
  for (const PageRange& r : saved.ranges) pages += r.length / kPageSize;
  spdlog::info("snapshot {} written to {} ({} pages{})", to_hex(saved.id), out_dir_, pages, base_ ? ", diff" : "");
  std::printf("Snapshot generation succeeds\n");
  std::fflush(stdout);
  port_->mark_taken();
  if (exit_after_) {
    vmm_.request_stop(0);
    return;
  }
  for (std::size_t i = 0; i < vmm_.vcpu_count(); ++i) vmm_.vcpu(i).resume();
}

}  // namespace snapfaas::runner::snapshot
