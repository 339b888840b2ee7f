// FutexDoorbell: the runner's side of WAIT / RESPONSE_READY done in-process with ipc::Doorbell.
#include "guest/agent/futex_doorbell.h"

#include <signal.h>

#include <chrono>

#include "guest/agent/agent_log.h"

namespace snapfaas::guest {

namespace {
// How often a parked wait re-checks the stop flag.
constexpr auto kStopPollInterval = std::chrono::milliseconds(50);

std::atomic<bool> g_stop{false};  // set by SIGTERM/SIGINT; relaxed: it only ends wait loops

extern "C" void on_stop_signal(int) { g_stop.store(true, std::memory_order_relaxed); }
}  // namespace

void install_stop_handlers() noexcept {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGTERM, &action, nullptr);
  ::sigaction(SIGINT, &action, nullptr);
}

const std::atomic<bool>& stop_flag() noexcept { return g_stop; }

FutexDoorbell::FutexDoorbell(const Window& window, const std::atomic<bool>& stop) noexcept
    : stop_(stop),
      runner_bell_(window.runner_doorbell()),
      supervisor_bell_(window.supervisor_doorbell()) {}

WaitAnswer FutexDoorbell::wait_for_request(const std::function<bool()>& pending) noexcept {
  supervisor_bell_.ring();  // as the runner's WAIT does (ipc/guest_abi.h): it stands for RESPONSE_READY
  for (;;) {
    if (stop_.load(std::memory_order_relaxed)) return {WaitAnswer::Kind::kShutdown, 0};
    ipc::WaitOptions options = ipc::WaitOptions::within(kStopPollInterval);
    options.spin = std::chrono::nanoseconds(0);  // the agent already spun before calling us
    if (runner_bell_.wait(pending, options)) return {WaitAnswer::Kind::kRequest, ipc::kWaitReady};
  }
}

void FutexDoorbell::response_ready() noexcept { supervisor_bell_.wake(); }

void FutexDoorbell::snapshot_point(ipc::SnapshotPoint point) noexcept {
  ++snapshot_points_;
  log(LogLevel::kInfo, "snapshot point %s", point == ipc::SnapshotPoint::kBase ? "base" : "diff");
}

void FutexDoorbell::fatal(ipc::AgentFatal code) noexcept {
  log(LogLevel::kError, "fatal error code %u", static_cast<unsigned>(code));
}

}  // namespace snapfaas::guest
