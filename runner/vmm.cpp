// Vmm: builds the VM (order matters for start-up time, see KvmVm) and runs it to its end.
#include "runner/vmm.h"

#include <fcntl.h>

#include <chrono>
#include <cstdio>
#include <spdlog/spdlog.h>

#include "common/error.h"
#include "ipc/guest_abi.h"
#include "runner/devices/virtio/net/net.h"
#include "runner/kvm/boot_msrs.h"
#include "runner/kvm/cpuid.h"
#include "runner/loader/linux_loader.h"
#include "runner/loader/ring3_loader.h"
#include "runner/memory/guest_layout.h"
#include "runner/ring3/debug_port.h"
#include "runner/ring3/ring3_abi.h"
#include "runner/ring3/test_mmio.h"

namespace snapfaas::runner {

namespace {
constexpr std::uint64_t kMiB = 1ull << 20;
constexpr std::uint32_t kMaxVcpus = 16;

}  // namespace

int Vmm::console_fd() const noexcept { return console_ ? console_.get() : STDOUT_FILENO; }

Vmm::Vmm(VmmConfig config)
    : config_(std::move(config)), kvm_(KvmSystem::open(config_.kvm_path)), vm_(KvmVm::create(kvm_)) {
  if (config_.vcpu_count == 0 || config_.vcpu_count > kMaxVcpus) {
    throw common::Error("vcpu_count " + std::to_string(config_.vcpu_count) + ": must be 1.." +
                        std::to_string(kMaxVcpus));
  }
  if (config_.mem_mib == 0 || config_.mem_mib > (1ull << 20)) {
    throw common::Error("mem_size " + std::to_string(config_.mem_mib) + " MiB: out of range");
  }
  if (!config_.console.empty()) {
    console_.reset(::open(config_.console.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!console_) throw common::sys_error("open console file " + config_.console);
  }
  const ElfImage elf = ElfImage::read(config_.kernel);
  ring3_ = config_.ring3 || elf.has_note(SNAPFAAS_RING3_NOTE_NAME, SNAPFAAS_RING3_NOTE_TYPE);

  // RAM memslots first: registering them after KVM_CREATE_IRQCHIP is ~100x slower here.
  memory_ = create_guest_ram(config_.mem_mib * kMiB);
  register_memory();
  if (config_.dirty_log) memory_.enable_write_log();  // diffs: the VMM's own writes too
  Vcpu::install_kick_handler();
  if (ring3_) {
    setup_ring3(elf);
  } else {
    setup_linux(elf);
  }
}

Vmm::~Vmm() {
  for (auto& v : vcpus_) v->stop();
  for (auto& v : vcpus_) v->join();
}

std::optional<VcpuCounters> Vmm::vcpu_counters() const noexcept {
  if (vcpus_.empty()) return std::nullopt;
  VcpuCounters sum;
  for (const auto& v : vcpus_) {
    const std::optional<VcpuCounters> c = v->counters();
    if (!c) return std::nullopt;
    sum += *c;
  }
  return sum;
}

void Vmm::register_memory() {
  std::uint32_t slot = 0;
  for (const GuestRegion& r : memory_.regions()) {
    vm_.set_user_memory_region(slot++, r.gpa, r.mapping.size(), r.mapping.data(),
                               config_.dirty_log ? KVM_MEM_LOG_DIRTY_PAGES : 0);
  }
}

void Vmm::setup_ring3(const ElfImage& elf) {
  if (config_.place_kernel) load_ring3_guest(memory_, elf);
  auto on_exit = [this](int code) { request_stop(code); };
  auto debug = std::make_shared<DebugPort>(on_exit, STDOUT_FILENO, console_fd());
  pio_.insert(debug, SNAPFAAS_PORT_FIRST, SNAPFAAS_PORT_COUNT);
  mmio_.insert(std::make_shared<TestMmio>(), SNAPFAAS_MMIO_BASE, SNAPFAAS_MMIO_SIZE);
  const auto cpuid = kvm_.supported_cpuid();
  for (std::uint32_t i = 0; i < config_.vcpu_count; ++i) {
    KvmVcpu vcpu = KvmVcpu::create(kvm_, vm_, i);
    vcpu.set_cpuid(normalize_cpuid(cpuid, i, config_.vcpu_count));
    vcpu.set_sregs(ring3_sregs(vcpu.sregs()));
    vcpu.set_regs(ring3_regs(elf.entry(), config_.mem_mib * kMiB, i, config_.vcpu_count));
    vcpus_.push_back(std::make_unique<Vcpu>(std::move(vcpu), pio_, mmio_,
                                            [this](std::uint32_t id, const ExitResult& r) { on_vcpu_exit(id, r); }));
  }
}

void Vmm::setup_linux(const ElfImage& elf) {
  vm_.set_tss_addr(layout::kTssAddr);
  vm_.set_identity_map_addr(layout::kIdentityMapAddr);
  vm_.create_irqchip();
  vm_.create_pit2();
  attach_linux_devices();  // fills cmdline_ device announcements

  LinuxBootConfig boot;
  boot.cmdline = cmdline_;
  boot.vcpu_count = config_.vcpu_count;
  boot.reserved.push_back({ipc::kWindowGpa, ipc::kWindowMaxSize});  // the ring window (--channel)
  const std::uint64_t entry = config_.place_kernel ? load_linux(memory_, elf, boot) : elf.entry();
  const auto cpuid = kvm_.supported_cpuid();
  for (std::uint32_t i = 0; i < config_.vcpu_count; ++i) {
    KvmVcpu vcpu = KvmVcpu::create(kvm_, vm_, i);
    vcpu.set_cpuid(normalize_cpuid(cpuid, i, config_.vcpu_count));
    vcpu.set_msrs(boot_msrs());
    vcpu.set_fpu(linux_fpu());
    vcpu.set_lapic(linux_lapic(vcpu.lapic()));
    if (i == 0) {  // APs wait for INIT/SIPI from the BSP (in-kernel LAPIC)
      vcpu.set_sregs(linux_sregs(vcpu.sregs()));
      vcpu.set_regs(linux_regs(entry));
    }
    vcpus_.push_back(std::make_unique<Vcpu>(std::move(vcpu), pio_, mmio_,
                                            [this](std::uint32_t id, const ExitResult& r) { on_vcpu_exit(id, r); }));
  }
  spdlog::info("Linux command line: {}", cmdline_);
}

void Vmm::start_vcpus_parked(const std::function<void()>& thread_init) {
  for (auto& v : vcpus_) v->start_parked(thread_init);
}

void Vmm::start_device_threads(std::function<void()> net_rx_init) {
  device_threads_started_ = true;
  net_rx_init_ = std::move(net_rx_init);
  for (NetSlot& n : devices_.nets) {
    if (!n.net->rx_started()) n.net->start_rx(net_rx_init_);
  }
}

int Vmm::run() {
  if (!device_threads_started_) start_device_threads({});
  for (auto& v : vcpus_) {
    if (v->started()) {
      v->resume();
    } else {
      v->start();
    }
  }
  bool timed_out = false;
  {
    std::unique_lock lock(stop_mutex_);
    if (config_.timeout_s > 0) {
      timed_out = !stop_cv_.wait_for(lock, std::chrono::duration<double>(config_.timeout_s), [&] { return stopping_; });
    } else {
      stop_cv_.wait(lock, [&] { return stopping_; });
    }
  }
  if (timed_out) request_stop(1, timeout_report());
  for (auto& v : vcpus_) v->stop();
  for (auto& v : vcpus_) v->join();
  std::lock_guard lock(stop_mutex_);
  if (!error_.empty()) throw common::Error(error_);
  return exit_code_;
}

std::string Vmm::timeout_report() {
  // The deadline kick: pause every vCPU (out of KVM_RUN) and say where each one was.
  std::string report = "timeout after " + std::to_string(config_.timeout_s) + " s:";
  for (auto& v : vcpus_) {
    char line[160];
    if (!v->pause_for(std::chrono::milliseconds(200))) {  // blocked in a device exit (e.g. WAIT)
      std::snprintf(line, sizeof line, " vCPU %u inside a device exit (port/MMIO handler);", v->kvm().id());
      report += line;
      continue;
    }
    try {
      const kvm_regs r = v->kvm().regs();
      const kvm_sregs s = v->kvm().sregs();
      std::snprintf(line, sizeof line, " vCPU %u at RIP 0x%llx (CR0 0x%llx CR3 0x%llx EFER 0x%llx);", v->kvm().id(),
                    static_cast<unsigned long long>(r.rip), static_cast<unsigned long long>(s.cr0),
                    static_cast<unsigned long long>(s.cr3), static_cast<unsigned long long>(s.efer));
    } catch (const std::exception& e) {
      std::snprintf(line, sizeof line, " vCPU %u: %s;", v->kvm().id(), e.what());
    }
    report += line;
  }
  return report;
}

void Vmm::request_stop(int code, const std::string& error) noexcept {
  {
    std::lock_guard lock(stop_mutex_);
    if (stopping_) return;
    stopping_ = true;
    exit_code_ = code;
    error_ = error;
  }
  for (auto& hook : stop_hooks_) hook();
  for (auto& v : vcpus_) v->stop();
  stop_cv_.notify_all();
}

void Vmm::on_vcpu_exit(std::uint32_t id, const ExitResult& result) noexcept {
  switch (result.action) {
    case ExitAction::kHalt: {
      std::uint32_t halted = 0;
      {
        std::lock_guard lock(stop_mutex_);
        halted = ++halted_;
      }
      spdlog::debug("vCPU {} halted", id);
      if (halted == vcpus_.size()) request_stop(0);
      break;
    }
    case ExitAction::kReset:
      spdlog::info("guest reset (vCPU {})", id);
      request_stop(0);
      break;
    case ExitAction::kShutdown:
      if (ring3_) {
        request_stop(1, "vCPU " + std::to_string(id) + ": " + result.message);
      } else {
        spdlog::info("guest shut down (vCPU {}): {}", id, result.message);
        request_stop(0);
      }
      break;
    case ExitAction::kError:
    case ExitAction::kContinue:
      request_stop(1, "vCPU " + std::to_string(id) + ": " + result.message);
      break;
  }
}

}  // namespace snapfaas::runner
