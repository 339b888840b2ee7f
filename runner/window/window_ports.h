// WindowPorts: the four port-I/O doorbells of the ring window (ipc/guest_abi.h) as a BusDevice on
// [kPortFirst, kPortFirst + kPortCount). WAIT first wakes the supervisor if it sleeps (it stands
// for RESPONSE_READY too), then blocks inside the vCPU's exit (adaptive spin on the request ring's
// entry count, then a park on the runner doorbell) and drains control commands meanwhile; it never
// reads a ring entry. Both count and stamp themselves in the channel's WindowTrace.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ipc/channel.h"
#include "ipc/doorbell.h"
#include "ipc/guest_abi.h"
#include "ipc/window_trace.h"
#include "runner/devices/bus.h"
#include "runner/kvm/kvm_stats.h"

namespace snapfaas::runner::window {

/// What WindowPorts needs from the VMM.
struct WindowHooks {
  /// Stops the VM (any thread): exit code, and a non-empty error for a runner-side failure.
  std::function<void(int code, const std::string& error)> stop;
  /// Optional: called on the vCPU thread for each SNAPSHOT_POINT (value as written by the guest).
  std::function<void(std::uint32_t code)> on_snapshot_point;
  /// Optional (pre-spawned restore mode): takes kBoot/kRestore commands, on whichever thread drains
  /// the control ring, with the control lock held (must only hand the command over, not block).
  /// The taker answers later with WindowPorts::reply_control. Unset: kBoot is answered kBootedAtSpawn, kRestore kUnsupported.
  std::function<void(const ipc::ControlCommand& command)> on_load;
  /// Optional: takes kDumpWorkingSet commands, like on_load (hand over only; answered later through
  /// reply_control). Unset: answered kUnsupported. Set with set_dump_working_set_hook.
  std::function<void(const ipc::ControlCommand& command)> on_dump_working_set;
  /// Optional: KVM's page-fault and exit counts of the VM's vCPUs now (Vmm::vcpu_counters; any
  /// thread). Unset or nullopt: the load's counters are not published (RunnerTimes).
  std::function<std::optional<VcpuCounters>()> counters;
};

class WindowPorts : public BusDevice {
 public:
  using Clock = std::chrono::steady_clock;
  /// The most WAIT polls the request ring before parking on the runner doorbell (adaptive below
  /// that, ipc/adaptive_spin.h: the vCPU thread parks at once while requests are sparse).
  static constexpr std::chrono::microseconds kWaitSpin{50};

  /// `channel` must outlive this device. `created`: VM creation time (kPing values).
  WindowPorts(ipc::RunnerChannel& channel, WindowHooks hooks, Clock::time_point created);

  void read(std::uint64_t offset, std::span<std::uint8_t> data) noexcept override;
  void write(std::uint64_t offset, std::span<const std::uint8_t> data) noexcept override;

  /// The VM is stopping: a WAIT in progress (or to come) returns kWaitShutdown. Any thread.
  void stop() noexcept;
  /// Answers pending control commands (kPing at once; kPingGuestReady once the guest reached its
  /// first WAIT; kShutdown is remembered for WAIT). Thread-safe (one lock around the control rings).
  void drain_control() noexcept;
  /// Answers a command handed to WindowHooks::on_load. Thread-safe (takes the control lock).
  void reply_control(const ipc::ControlCommand& command, std::int32_t status, std::uint64_t value) noexcept;
  /// The runner is ready before any guest WAIT (pre-spawned restore mode: a VM waiting for its
  /// snapshot): kPingGuestReady is answered at once from now on. Any thread.
  void mark_runner_ready() noexcept;
  /// A load is in place and the vCPUs have not run since it began (VMM thread, before run()): the
  /// counts now are the baseline of the ones published, once, when a vCPU thread first wakes the
  /// supervisor after the guest pushed a response (ipc::publish_load_counters).
  void arm_load_counters() noexcept;
  /// True when the supervisor pushed control commands not yet drained. Any thread.
  [[nodiscard]] bool control_readable() const noexcept;
  /// Setup only (before the vCPUs run): replaces the SNAPSHOT_POINT hook.
  void set_snapshot_hook(std::function<void(std::uint32_t)> hook) { hooks_.on_snapshot_point = std::move(hook); }
  /// Sets WindowHooks::on_dump_working_set (under the control lock: any thread, any time).
  void set_dump_working_set_hook(std::function<void(const ipc::ControlCommand&)> hook);
  /// True once kShutdown was received.
  [[nodiscard]] bool shutdown_requested() const noexcept { return shutdown_.load(std::memory_order_acquire); }
  /// True once the guest issued its first WAIT.
  [[nodiscard]] bool guest_waited() const noexcept { return first_wait_ns_.load(std::memory_order_acquire) != 0; }
  [[nodiscard]] bool stopped() const noexcept { return stop_.load(std::memory_order_acquire); }
  /// WAIT answers so far (kWaitReady and kWaitShutdown), for tests and logs.
  [[nodiscard]] std::uint64_t waits() const noexcept { return waits_.load(std::memory_order_relaxed); }

 private:
  [[nodiscard]] std::uint32_t wait_for_request() noexcept;
  /// RESPONSE_READY's work (and the first thing a WAIT does): FUTEX_WAKE the supervisor doorbell if it has sleepers.
  void wake_supervisor() noexcept;
  /// The first wake after a response was pushed since arm_load_counters: publishes the counts.
  void publish_load_counters() noexcept;
  [[nodiscard]] std::uint64_t ns_since_created() const noexcept;
  void reply(const ipc::ControlCommand& command, std::int32_t status, std::uint64_t value) noexcept;
  void odd_access(const char* what, std::uint64_t offset, std::size_t size) noexcept;

  ipc::RunnerChannel& channel_;
  WindowHooks hooks_;
  Clock::time_point created_;
  ipc::RingObserver requests_;  // the guest-consumed request ring; copied per WAIT (one per thread)
  ipc::WindowTraceWriter trace_;  // exit counts and TSC stamps in the header page (figures only)

  mutable std::mutex control_mutex_;                  // control ring consumer + reply ring producer
  std::vector<std::uint64_t> pending_ready_pings_;    // guarded by control_mutex_
  std::atomic<bool> shutdown_{false};                 // kShutdown received
  std::atomic<bool> stop_{false};                     // VM stopping
  std::atomic<std::uint64_t> first_wait_ns_{0};       // ns since creation at the first WAIT (0: not yet)
  std::atomic<std::uint64_t> runner_ready_ns_{0};     // mark_runner_ready() time (0: not called)
  std::atomic<std::uint64_t> waits_{0};
  ipc::RingObserver responses_;                       // the guest-produced response ring (pushed() only)
  std::optional<VcpuCounters> load_baseline_;         // written by arm_load_counters before the vCPUs run
  std::uint64_t responses_at_load_ = 0;               // responses_.pushed() then (same writer and ordering)
  std::atomic<bool> load_counters_armed_{false};      // a load armed and not yet published
};

}  // namespace snapfaas::runner::window
