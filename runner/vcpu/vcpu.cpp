// The vCPU thread loop and its kick.
#include "runner/vcpu/vcpu.h"

#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>

#include "common/error.h"

namespace snapfaas::runner {

namespace {
// The kick signal. Its handler only sets immediate_exit on the interrupted vCPU's kvm_run, so that
// a kick landing just before KVM_RUN still makes it return at once (KVM API doc, immediate_exit).
int kick_signal() noexcept { return SIGRTMIN; }
thread_local kvm_run* t_run = nullptr;
thread_local Vcpu* t_vcpu = nullptr;

void on_kick(int) {
  if (t_run != nullptr) t_run->immediate_exit = 1;
}
}  // namespace

void Vcpu::install_kick_handler() {
  struct sigaction sa {};
  sa.sa_handler = on_kick;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: KVM_RUN must return EINTR
  common::check_sys(::sigaction(kick_signal(), &sa, nullptr), "sigaction vCPU kick");
}

Vcpu::Vcpu(KvmVcpu vcpu, const Bus& pio, const Bus& mmio, OnExit on_exit)
    : vcpu_(std::move(vcpu)), pio_(pio), mmio_(mmio), on_exit_(std::move(on_exit)) {}

Vcpu::~Vcpu() {
  stop();
  if (thread_.joinable()) thread_.join();
}

void Vcpu::start() {
  requested_.store(VcpuState::kRunning, std::memory_order_release);
  set_state(VcpuState::kRunning);
  thread_ = std::thread([this] { thread_main(); });
}

void Vcpu::start_parked(std::function<void()> thread_init) {
  requested_.store(VcpuState::kPaused, std::memory_order_release);
  thread_ = std::thread([this, init = std::move(thread_init)] {
    if (init) {
      try {
        init();
      } catch (const std::exception& e) {
        spdlog::error("vCPU {} thread set-up failed: {}", vcpu_.id(), e.what());
        on_exit_(vcpu_.id(), {ExitAction::kError, std::string("vCPU thread set-up: ") + e.what()});
        set_state(VcpuState::kStopped);
        return;
      }
    }
    thread_main();
  });
}

void Vcpu::set_state(VcpuState s) noexcept {
  {
    std::lock_guard lock(mutex_);
    state_.store(s, std::memory_order_release);
  }
  cv_.notify_all();
}

void Vcpu::kick_locked() noexcept {
  if (self_live_ && ::pthread_equal(self_, ::pthread_self()) == 0) ::pthread_kill(self_, kick_signal());
}

void Vcpu::pause() {
  if (!ask_to_pause()) return;
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [&] { return state_.load(std::memory_order_acquire) != VcpuState::kRunning; });
}

bool Vcpu::ask_to_pause() noexcept {
  std::lock_guard lock(mutex_);
  if (state_.load(std::memory_order_acquire) == VcpuState::kStopped) return false;
  requested_.store(VcpuState::kPaused, std::memory_order_release);
  kick_locked();
  return true;
}

bool Vcpu::pause_for(std::chrono::milliseconds limit) {
  if (!ask_to_pause()) return true;
  std::unique_lock lock(mutex_);
  return cv_.wait_for(lock, limit, [&] { return state_.load(std::memory_order_acquire) != VcpuState::kRunning; });
}

void Vcpu::resume() {
  {
    std::lock_guard lock(mutex_);
    if (requested_.load(std::memory_order_acquire) != VcpuState::kPaused) return;
    requested_.store(VcpuState::kRunning, std::memory_order_release);
  }
  cv_.notify_all();
}

void Vcpu::request_pause() noexcept {
  std::lock_guard lock(mutex_);
  if (requested_.load(std::memory_order_acquire) == VcpuState::kRunning) {
    requested_.store(VcpuState::kPaused, std::memory_order_release);
  }
}

Vcpu* Vcpu::current() noexcept { return t_vcpu; }

void Vcpu::stop() noexcept {
  {
    std::lock_guard lock(mutex_);
    requested_.store(VcpuState::kStopped, std::memory_order_release);
    kick_locked();
  }
  cv_.notify_all();
}

void Vcpu::join() {
  if (thread_.joinable()) thread_.join();
}

void Vcpu::thread_main() noexcept {
  t_run = &vcpu_.run_struct();
  t_vcpu = this;
  {
    // From here a pause or stop asked on any thread kicks this one; one asked before is in
    // requested_, which the loop reads next.
    std::lock_guard lock(mutex_);
    self_ = ::pthread_self();
    self_live_ = true;
  }
  const ExitContext ctx{pio_, mmio_, [this] { return vcpu_.regs().rip; }};
  while (true) {
    const VcpuState wanted = requested_.load(std::memory_order_acquire);
    if (wanted == VcpuState::kStopped) break;
    // A thread started parked and released before it first parked runs from here: say so, or a
    // later pause() would take the initial kPaused for the vCPU being out of KVM_RUN.
    if (wanted == VcpuState::kRunning && state_.load(std::memory_order_relaxed) != VcpuState::kRunning) {
      set_state(VcpuState::kRunning);
    }
    if (wanted == VcpuState::kPaused) {
      std::unique_lock lock(mutex_);
      state_.store(VcpuState::kPaused, std::memory_order_release);
      cv_.notify_all();
      cv_.wait(lock, [&] { return requested_.load(std::memory_order_acquire) != VcpuState::kPaused; });
      state_.store(VcpuState::kRunning, std::memory_order_release);
      continue;
    }
    const int r = vcpu_.run();
    if (r == -EINTR || r == -EAGAIN) {
      vcpu_.set_immediate_exit(false);
      continue;
    }
    if (r < 0) {
      on_exit_(vcpu_.id(), {ExitAction::kError, std::string("KVM_RUN: ") + std::strerror(-r)});
      break;
    }
    ExitResult result = handle_exit(vcpu_.run_struct(), vcpu_.run_size(), ctx);
    if (result.action == ExitAction::kContinue) continue;
    on_exit_(vcpu_.id(), result);
    break;
  }
  {
    std::lock_guard lock(mutex_);
    self_live_ = false;
  }
  t_run = nullptr;
  t_vcpu = nullptr;
  set_state(VcpuState::kStopped);
}

}  // namespace snapfaas::runner
