// Vcpu: one vCPU thread running KVM_RUN in a loop with explicit states (running, paused,
// stopped) and a kick (signal + kvm_run.immediate_exit) that makes KVM_RUN return promptly.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include <pthread.h>

#include "runner/kvm/kvm_vcpu.h"
#include "runner/vcpu/exit_handler.h"

namespace snapfaas::runner {

enum class VcpuState : int { kRunning, kPaused, kStopped };

/// Owns a KvmVcpu and its thread. start/start_parked/join are called from the VMM thread;
/// pause/resume/stop from any thread (the snapshot saver, other vCPUs), also while the VMM thread
/// is still inside start(). The KvmVcpu is only touched by the vCPU thread after start() and by
/// other threads while the vCPU is paused or stopped.
class Vcpu {
 public:
  /// Called on the vCPU thread when its loop ends for a reason other than stop(): a terminal exit
  /// (HLT, shutdown, reset) or an error.
  using OnExit = std::function<void(std::uint32_t vcpu_id, const ExitResult& result)>;

  Vcpu(KvmVcpu vcpu, const Bus& pio, const Bus& mmio, OnExit on_exit);
  Vcpu(const Vcpu&) = delete;
  Vcpu& operator=(const Vcpu&) = delete;
  ~Vcpu();  ///< stops and joins

  /// Installs the process-wide kick signal handler. Call once before any start().
  static void install_kick_handler();

  void start();
  /// Starts the thread ahead of time: it runs `thread_init` (e.g. installs its seccomp filter),
  /// then parks as paused, without entering KVM_RUN, until resume(). The VMM thread may set vCPU
  /// state meanwhile. An exception from `thread_init` ends the thread through OnExit (kError).
  void start_parked(std::function<void()> thread_init);
  /// True once start() or start_parked() created the thread.
  [[nodiscard]] bool started() const noexcept { return thread_.joinable(); }
  /// Asks the thread to pause and waits until it has left KVM_RUN and parked.
  void pause();
  /// pause() that gives up after `limit` (a vCPU blocked inside a device's exit handler, e.g. the
  /// ring window's WAIT, parks only once the device lets it go). True when parked or stopped.
  [[nodiscard]] bool pause_for(std::chrono::milliseconds limit);
  void resume();
  /// Called on this vCPU's own thread (inside an exit handler): the thread parks as paused when
  /// the handler returns, before re-entering KVM_RUN, so the guest does not run past the exit. A
  /// controller's pause() then returns once it has parked; resume() lets it go on.
  void request_pause() noexcept;
  /// The Vcpu whose thread is calling, or nullptr on any other thread.
  [[nodiscard]] static Vcpu* current() noexcept;
  /// Asks the thread to stop (non-blocking, callable from any thread).
  void stop() noexcept;
  void join();

  [[nodiscard]] VcpuState state() const noexcept { return state_.load(std::memory_order_acquire); }
  [[nodiscard]] KvmVcpu& kvm() noexcept { return vcpu_; }
  /// KVM's page-fault and exit counts for this vCPU (KvmVcpu::counters: reads its own statistics
  /// file only, so any thread, any state).
  [[nodiscard]] std::optional<VcpuCounters> counters() const noexcept { return vcpu_.counters(); }

 private:
  /// Signals the vCPU thread out of KVM_RUN; nothing when called on it or before it registered
  /// itself (it reads requested_ after registering, under mutex_). Caller holds mutex_.
  void kick_locked() noexcept;
  /// Requests the pause and kicks; false when the thread already stopped.
  [[nodiscard]] bool ask_to_pause() noexcept;
  void thread_main() noexcept;
  void set_state(VcpuState s) noexcept;

  KvmVcpu vcpu_;
  const Bus& pio_;
  const Bus& mmio_;
  OnExit on_exit_;
  // requested_: written by controllers (release), read by the vCPU loop (acquire).
  std::atomic<VcpuState> requested_{VcpuState::kRunning};
  // state_: written by the vCPU thread (release), read by controllers (acquire).
  std::atomic<VcpuState> state_{VcpuState::kPaused};
  std::mutex mutex_;
  std::condition_variable cv_;
  // The running vCPU thread, registered by that thread itself (guarded by mutex_): kicks never
  // read thread_, which the VMM thread may still be assigning while others pause or stop.
  pthread_t self_{};
  bool self_live_ = false;
  std::thread thread_;
};

}  // namespace snapfaas::runner
