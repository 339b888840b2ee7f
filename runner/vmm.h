// Vmm: one microVM assembled from a VmmConfig — KVM VM, guest RAM memslots, the loaded guest
// (Linux or ring-3), devices on the PIO/MMIO buses, one Vcpu thread per vCPU — and its run loop.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "runner/devices/bus.h"
#include "runner/kvm/kvm_system.h"
#include "runner/kvm/kvm_vm.h"
#include "runner/loader/elf.h"
#include "runner/memory/guest_memory.h"
#include "runner/vcpu/vcpu.h"
#include "runner/vmm_config.h"

namespace snapfaas::runner {

/// Built on the VMM thread (the constructor throws common::Error naming the failing step); run()
/// blocks until the guest exits. Seams for later issues: pio()/mmio() accept more devices before
/// run(), memory()/vm() allow extra memslots (the ring window), vcpu() gives state access while
/// paused.
class Vmm {
 public:
  explicit Vmm(VmmConfig config);
  ~Vmm();
  Vmm(const Vmm&) = delete;
  Vmm& operator=(const Vmm&) = delete;

  /// Starts every vCPU and waits until the VM stops. Returns the exit status for the process:
  /// the ring-3 guest's exit code, 0 after a Linux reboot/shutdown or when every vCPU halted.
  /// Throws common::Error when a vCPU hit an unhandled exit.
  int run();
  /// Stops the VM from any thread (first caller's code wins). `error` non-empty makes run() throw.
  void request_stop(int code, const std::string& error = {}) noexcept;
  /// Setup only (before run()): `hook` runs on the stopping thread when the VM starts stopping,
  /// before the vCPUs are kicked (releases a vCPU blocked inside a device, e.g. the ring window's WAIT).
  void add_stop_hook(std::function<void()> hook) { stop_hooks_.push_back(std::move(hook)); }

  [[nodiscard]] bool ring3() const noexcept { return ring3_; }
  [[nodiscard]] Bus& pio() noexcept { return pio_; }
  [[nodiscard]] Bus& mmio() noexcept { return mmio_; }
  [[nodiscard]] const GuestMemory& memory() const noexcept { return memory_; }
  [[nodiscard]] KvmVm& vm() noexcept { return vm_; }
  [[nodiscard]] Vcpu& vcpu(std::size_t i) noexcept { return *vcpus_[i]; }
  [[nodiscard]] std::size_t vcpu_count() const noexcept { return vcpus_.size(); }
  /// The Linux command line actually passed (empty for ring-3 guests).
  [[nodiscard]] const std::string& cmdline() const noexcept { return cmdline_; }

 private:
  void register_memory();
  void setup_ring3(const ElfImage& elf);
  void setup_linux(const ElfImage& elf);
  void attach_linux_devices();
  void on_vcpu_exit(std::uint32_t id, const ExitResult& result) noexcept;
  [[nodiscard]] std::string timeout_report();

  VmmConfig config_;
  KvmSystem kvm_;
  KvmVm vm_;
  GuestMemory memory_;
  Bus pio_;
  Bus mmio_;
  common::UniqueFd console_;  // --console file (invalid: stdout)
  bool ring3_ = false;
  std::string cmdline_;
  std::vector<std::unique_ptr<Vcpu>> vcpus_;

  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  int exit_code_ = 0;
  std::string error_;
  std::uint32_t halted_ = 0;
  std::vector<std::function<void()>> stop_hooks_;  // set up before run(); called by request_stop
};

}  // namespace snapfaas::runner
