// WindowPorts: WAIT (spin, park, control commands), RESPONSE_READY, SNAPSHOT_POINT, AGENT_FATAL.
#include "runner/window/window_ports.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstring>
#include <string>
#include <utility>

#include "common/log_limit.h"
#include "ipc/ipc_error.h"
#include "ipc/runner_times.h"

namespace snapfaas::runner::window {

namespace {
constexpr std::uint64_t kWaitOffset = ipc::kPortWait - ipc::kPortFirst;
constexpr std::uint64_t kResponseReadyOffset = ipc::kPortResponseReady - ipc::kPortFirst;
constexpr std::uint64_t kSnapshotPointOffset = ipc::kPortSnapshotPoint - ipc::kPortFirst;
constexpr std::uint64_t kAgentFatalOffset = ipc::kPortAgentFatal - ipc::kPortFirst;
constexpr std::size_t kMaxPendingReadyPings = 64;
// Backstop for a park on the runner doorbell: the loop re-checks everything at least this often.
constexpr auto kParkBackstop = std::chrono::seconds(1);

constexpr std::int32_t result(ipc::ControlResult r) { return static_cast<std::int32_t>(r); }

// WAIT's spin policy (ipc/adaptive_spin.h, ns), one per vCPU thread: a guest may WAIT on several
// vCPUs at once, and the policy is single-threaded state. It yields between rounds: the supervisor
// (or another VM's vCPU) sharing this core gets to run instead of waiting for the spin to end.
thread_local ipc::AdaptiveSpin t_wait_spin{ipc::spin_units(WindowPorts::kWaitSpin), true};
}  // namespace

WindowPorts::WindowPorts(ipc::RunnerChannel& channel, WindowHooks hooks, Clock::time_point created)
    : channel_(channel),
      hooks_(std::move(hooks)),
      created_(created),
      requests_(channel.request_observer()),
      trace_(channel.shm().data()),
      responses_(channel.response_observer()) {}

void WindowPorts::arm_load_counters() noexcept {
  load_baseline_ = hooks_.counters ? hooks_.counters() : std::nullopt;
  responses_at_load_ = responses_.pushed();
  // RELEASE: load_baseline_ is written before the flag; a vCPU thread's ACQUIRE exchange reads it after.
  load_counters_armed_.store(load_baseline_.has_value(), std::memory_order_release);
}

void WindowPorts::publish_load_counters() noexcept {
  // The hot path: one load. ACQUIRE pairs with arm_load_counters' RELEASE (responses_at_load_).
  if (!load_counters_armed_.load(std::memory_order_acquire)) return;
  // Pushed since the load, whether or not the supervisor took it already: no response yet is a
  // WAIT before the first request. (Not "pending now": a supervisor spinning on its ring takes
  // the response before this exit, and the counts would then never be published.)
  if (responses_.pushed() == responses_at_load_) return;
  // ACQ_REL: one vCPU thread wins the publication; ACQUIRE pairs with arm_load_counters' RELEASE.
  if (!load_counters_armed_.exchange(false, std::memory_order_acq_rel)) return;
  const std::optional<VcpuCounters> now = hooks_.counters();
  if (!now) return;
  // Counters only grow; a difference that does not is not published rather than wrapped.
  if (now->page_faults < load_baseline_->page_faults || now->exits < load_baseline_->exits) return;
  ipc::publish_load_counters(channel_.shm().data(), {.page_faults = now->page_faults - load_baseline_->page_faults,
                                                      .exits = now->exits - load_baseline_->exits});
}

void WindowPorts::wake_supervisor() noexcept {
  trace_.stamp(&ipc::WindowTrace::doorbell_exit_tsc);  // the guest's exit that rings for responses reached the VMM
  publish_load_counters();  // before the wake: the supervisor reads them once it has the response
  // The guest saw the supervisor sleeping (or is about to park with responses pushed): wake it
  // unless it woke since (its own spin caught the response, or another wake): a FUTEX_WAKE saved.
  ipc::Doorbell& bell = channel_.supervisor_doorbell();
  if (!bell.needs_wake()) return;
  bell.wake();
  trace_.count(&ipc::WindowTrace::supervisor_wakes);
  trace_.stamp(&ipc::WindowTrace::wake_done_tsc);
}

std::uint64_t WindowPorts::ns_since_created() const noexcept {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - created_).count();
  return ns > 0 ? static_cast<std::uint64_t>(ns) : 1;
}

bool WindowPorts::control_readable() const noexcept {
  std::lock_guard lock(control_mutex_);  // the control ring's consumer state is shared by the draining threads
  return channel_.control_readable();
}

void WindowPorts::reply(const ipc::ControlCommand& command, std::int32_t status, std::uint64_t value) noexcept {
  if (ipc::Status s = channel_.reply_control({command.command_id, command.op, status, value}); !s) {
    spdlog::error("ring window: cannot reply to control command {}: {}", command.command_id, ipc::to_string(s.error()));
  }
}

void WindowPorts::reply_control(const ipc::ControlCommand& command, std::int32_t status,
                                std::uint64_t value) noexcept {
  std::lock_guard lock(control_mutex_);
  reply(command, status, value);
}

void WindowPorts::set_dump_working_set_hook(std::function<void(const ipc::ControlCommand&)> hook) {
  std::lock_guard lock(control_mutex_);  // drain_control calls the hooks with it held
  hooks_.on_dump_working_set = std::move(hook);
}

void WindowPorts::mark_runner_ready() noexcept {
  std::uint64_t expected = 0;
  (void)runner_ready_ns_.compare_exchange_strong(expected, ns_since_created(), std::memory_order_acq_rel);
  drain_control();  // answers ready pings that were waiting
}

void WindowPorts::drain_control() noexcept {
  std::lock_guard lock(control_mutex_);
  std::uint64_t ready_ns = first_wait_ns_.load(std::memory_order_acquire);
  if (ready_ns == 0) ready_ns = runner_ready_ns_.load(std::memory_order_acquire);
  if (ready_ns != 0) {
    for (std::uint64_t id : pending_ready_pings_) {
      reply({id, static_cast<std::uint32_t>(ipc::ControlOp::kPing), ipc::kPingGuestReady, 0, 0}, 0, ready_ns);
    }
    pending_ready_pings_.clear();
  }
  for (;;) {
    ipc::Result<ipc::ControlCommand> command = channel_.try_control();
    if (!command) {
      if (command.error() == ipc::IpcError::kRingEmpty) return;
      spdlog::error("ring window: control command refused: {}", ipc::to_string(command.error()));
      if (command.error() == ipc::IpcError::kBadControlOp) continue;  // popped: go on with the next
      return;                                                          // corrupt ring: nothing more to read
    }
    switch (static_cast<ipc::ControlOp>(command->op)) {
      case ipc::ControlOp::kPing:
        if (command->arg0 == ipc::kPingGuestReady) {
          if (ready_ns != 0) {
            reply(*command, 0, ready_ns);
          } else if (pending_ready_pings_.size() < kMaxPendingReadyPings) {
            pending_ready_pings_.push_back(command->command_id);
          } else {
            reply(*command, result(ipc::ControlResult::kBusy), 0);
          }
        } else {
          reply(*command, 0, ns_since_created());
        }
        break;
      case ipc::ControlOp::kShutdown:
        spdlog::debug("ring window: shutdown requested (command {})", command->command_id);
        shutdown_.store(true, std::memory_order_release);
        reply(*command, 0, 0);
        break;
      case ipc::ControlOp::kBoot:
      case ipc::ControlOp::kRestore:
        if (hooks_.on_load) {
          hooks_.on_load(*command);  // answered later through reply_control
        } else {
          // No taker: this runner booted its --kernel at spawn; a kBoot finds it running, a
          // kRestore has nothing to restore into.
          const bool boot = static_cast<ipc::ControlOp>(command->op) == ipc::ControlOp::kBoot;
          reply(*command, result(boot ? ipc::ControlResult::kBootedAtSpawn : ipc::ControlResult::kUnsupported), 0);
        }
        break;
      case ipc::ControlOp::kDumpWorkingSet:
        if (hooks_.on_dump_working_set) {
          hooks_.on_dump_working_set(*command);  // answered later through reply_control
        } else {
          reply(*command, result(ipc::ControlResult::kUnsupported), 0);
        }
        break;
      default:
        reply(*command, result(ipc::ControlResult::kUnsupported), 0);
        break;
    }
  }
}

std::uint32_t WindowPorts::wait_for_request() noexcept {
  waits_.fetch_add(1, std::memory_order_relaxed);
  trace_.count(&ipc::WindowTrace::waits);
  // A WAIT also does what RESPONSE_READY does (ipc/guest_abi.h): a guest that pushed responses and
  // parks next exits once per request, not twice.
  wake_supervisor();
  std::uint64_t expected = 0;
  if (first_wait_ns_.compare_exchange_strong(expected, ns_since_created(), std::memory_order_acq_rel)) {
    channel_.runner_doorbell().wake();  // the boot-phase control thread, parked on the same word, exits
  }
  ipc::RingObserver requests = requests_;  // this vCPU thread's own copy (a guest may WAIT on several)
  // Ready: something to drain or answer. An index error counts as ready: the loop reports it.
  auto ready = [this, &requests] {
    if (stop_.load(std::memory_order_acquire) || control_readable()) return true;
    const ipc::Result<std::uint64_t> pending = requests.pending();
    return !pending || *pending != 0;
  };
  // This thread's own Doorbell over the runner word (its park count is per object, not shared).
  ipc::Doorbell bell(channel_.runner_doorbell().word());
  std::uint64_t parks = 0;
  bool first_round = true;
  for (;;) {
    drain_control();
    if (stop_.load(std::memory_order_acquire) || shutdown_.load(std::memory_order_acquire)) return ipc::kWaitShutdown;
    const ipc::Result<std::uint64_t> pending = requests.pending();
    if (pending && *pending != 0) {
      trace_.stamp(&ipc::WindowTrace::wait_ready_tsc);  // the vCPU re-enters the guest now
      // The supervisor's cold-request phases: the guest takes its first request after a load now.
      const auto now = std::chrono::steady_clock::now().time_since_epoch();
      ipc::mark_runner_ready(channel_.shm().data(),
                             static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now).count()));
      return ipc::kWaitReady;
    }
    if (!pending) {
      const std::string error = "WAIT: request ring head " + std::to_string(requests.last_head()) + " / tail " +
                                std::to_string(requests.last_tail()) + " (capacity " +
                                std::to_string(requests.capacity()) + "): " + ipc::to_string(pending.error());
      spdlog::error("ring window: {}: stopping this VM", error);
      if (hooks_.stop) hooks_.stop(1, "ring window: " + error);
      return ipc::kWaitShutdown;
    }
    // Spin (adaptive) only on entering WAIT: a re-check after the park backstop parks at once,
    // so an idle VM costs one wakeup per kParkBackstop and no spin.
    if (first_round) {
      first_round = false;
      if (ipc::adaptive_poll(t_wait_spin, ready, ipc::steady_ns, ipc::detail::yield_cpu)) continue;
    }
    ipc::WaitOptions options;
    options.spin = std::chrono::nanoseconds(0);
    options.deadline = ipc::WaitOptions::Clock::now() + kParkBackstop;
    (void)bell.wait(ready, options);  // kTimedOut: loop and re-check
    if (bell.parks() != parks) {
      parks = bell.parks();
      trace_.count(&ipc::WindowTrace::wait_parks);
      trace_.stamp(&ipc::WindowTrace::wait_woken_tsc);
    }
  }
}

void WindowPorts::stop() noexcept {
  stop_.store(true, std::memory_order_release);
  channel_.runner_doorbell().wake();  // a WAIT parked on the futex re-checks and sees stop_
}

void WindowPorts::odd_access(const char* what, std::uint64_t offset, std::size_t size) noexcept {
  SNAPFAAS_LIMITED_LOG(spdlog::level::warn, "ring window: ignored guest {} of {} bytes at port {:#x}", what, size,
                       ipc::kPortFirst + offset);
}

void WindowPorts::read(std::uint64_t offset, std::span<std::uint8_t> data) noexcept {
  if (offset != kWaitOffset || data.size() != sizeof(std::uint32_t)) {
    std::memset(data.data(), 0xff, data.size());
    odd_access("read", offset, data.size());
    return;
  }
  const std::uint32_t value = wait_for_request();
  std::memcpy(data.data(), &value, sizeof value);
}

void WindowPorts::write(std::uint64_t offset, std::span<const std::uint8_t> data) noexcept {
  if (data.size() != sizeof(std::uint32_t)) {
    odd_access("write", offset, data.size());
    return;
  }
  std::uint32_t value = 0;
  std::memcpy(&value, data.data(), sizeof value);
  switch (offset) {
    case kResponseReadyOffset:
      trace_.count(&ipc::WindowTrace::response_rings);
      wake_supervisor();
      break;
    case kSnapshotPointOffset:
      SNAPFAAS_LIMITED_LOG(spdlog::level::info, "ring window: guest snapshot point {} ({})", value,
                   value == static_cast<std::uint32_t>(ipc::SnapshotPoint::kBase)   ? "base"
                   : value == static_cast<std::uint32_t>(ipc::SnapshotPoint::kDiff) ? "diff"
                                                                                    : "unknown");
      if (hooks_.on_snapshot_point) hooks_.on_snapshot_point(value);
      break;
    case kAgentFatalOffset: {
      const int code = value >= 1 && value <= 255 ? static_cast<int>(value) : 1;
      spdlog::error("ring window: guest agent fatal error {}: stopping the VM (exit {})", value, code);
      if (hooks_.stop) hooks_.stop(code, {});
      break;
    }
    default:
      odd_access("write", offset, data.size());
      break;
  }
}

}  // namespace snapfaas::runner::window
