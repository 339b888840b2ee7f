// Vmm: one microVM assembled from a VmmConfig — KVM VM, guest RAM memslots, the loaded guest
// (Linux or ring-3), devices on the PIO/MMIO buses, one Vcpu thread per vCPU — and its run loop.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
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

class Interrupt;
class Serial;
class I8042;
namespace virtio {
class MmioTransport;
}

/// One virtio-blk disk of a Linux VM: where it sits and what backs it.
struct BlockSlot {
  std::string role;  ///< "rootfs" (/dev/vda) or "appfs" (/dev/vdb): also its GET_ID string
  std::uint64_t mmio_base = 0;
  std::uint32_t irq = 0;
  std::shared_ptr<Interrupt> interrupt;
  std::shared_ptr<virtio::MmioTransport> transport;  ///< also on mmio() at mmio_base
};

namespace virtio::net {
class Net;
}

/// The virtio-net device of a Linux VM (--network).
struct NetSlot {
  std::uint64_t mmio_base = 0;
  std::uint32_t irq = 0;
  std::shared_ptr<Interrupt> interrupt;
  std::shared_ptr<virtio::MmioTransport> transport;  ///< also on mmio() at mmio_base
  virtio::net::Net* net = nullptr;                   ///< the transport's device (pause/resume, save)
};

/// The VMM's own devices of a Linux VM (empty for ring-3 guests), for snapshot save and restore.
/// Restore replaces them on the buses (Bus::replace) and here, before the vCPUs run.
struct VmmDevices {
  std::shared_ptr<Interrupt> serial_irq;
  std::shared_ptr<Serial> serial;  ///< also on pio() at kSerialPort
  std::shared_ptr<I8042> i8042;    ///< also on pio() at kI8042Port
  std::vector<BlockSlot> blocks;   ///< in MMIO address order
  std::vector<NetSlot> nets;       ///< after the disks; at most one today
};

/// Built on the VMM thread (the constructor throws common::Error naming the failing step); run()
/// blocks until the guest exits. pio()/mmio() accept more devices before run() (the ring window's
/// ports), memory()/vm() extra memslots (the ring window), vcpu() gives state access while paused
/// (snapshots).
class Vmm {
 public:
  explicit Vmm(VmmConfig config);
  ~Vmm();
  Vmm(const Vmm&) = delete;
  Vmm& operator=(const Vmm&) = delete;

  /// Starts (or releases parked) vCPUs and waits until the VM stops. Returns the exit status for the process:
  /// the ring-3 guest's exit code, 0 after a Linux reboot/shutdown or when every vCPU halted.
  /// Throws common::Error when a vCPU hit an unhandled exit.
  int run();
  /// Setup only: starts every vCPU thread parked (Vcpu::start_parked with `thread_init`); run()
  /// then only releases them. A pre-spawned runner takes thread creation off the request path.
  void start_vcpus_parked(const std::function<void()>& thread_init);
  /// Setup only: starts the devices' own threads (virtio-net receive), each running
  /// `net_rx_init` first; devices a snapshot restore builds later start theirs the same way.
  /// run() starts them (with no init) if nobody did.
  void start_device_threads(std::function<void()> net_rx_init);
  [[nodiscard]] bool device_threads_started() const noexcept { return device_threads_started_; }
  /// What start_device_threads was given (for devices built after it).
  [[nodiscard]] const std::function<void()>& net_rx_thread_init() const noexcept { return net_rx_init_; }
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
  /// KVM's page-fault and exit counts summed over the vCPUs (any thread once the vCPUs exist);
  /// nullopt when a vCPU has no statistics file (kernels before 5.14) or there are no vCPUs.
  [[nodiscard]] std::optional<VcpuCounters> vcpu_counters() const noexcept;
  [[nodiscard]] VmmDevices& devices() noexcept { return devices_; }
  [[nodiscard]] const VmmConfig& config() const noexcept { return config_; }
  /// Where the guest console goes (the --console file or stdout).
  [[nodiscard]] int console_fd() const noexcept;
  /// What the i8042 calls when the guest asks for a reset (stops the VM with status 0).
  [[nodiscard]] std::function<void()> reset_handler();
  /// Setup only (a booting Linux VM whose vCPUs have not run): attaches `image` read-only as the
  /// app disk (/dev/vdb, role "appfs") in the next free virtio-mmio slot and announces it on the
  /// kernel command line. `label` names the image in logs. Throws common::Error (ring-3 VM, an
  /// app disk already there, command line too long).
  void attach_app_disk(common::UniqueFd image, const std::string& label);
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
  VmmDevices devices_;
  bool device_threads_started_ = false;
  std::function<void()> net_rx_init_;

  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  int exit_code_ = 0;
  std::string error_;
  std::uint32_t halted_ = 0;
  std::vector<std::function<void()>> stop_hooks_;  // set up before run(); called by request_stop
};

}  // namespace snapfaas::runner
