// FutexDoorbell: the host-test implementation of AgentDoorbell. The agent runs as a plain process
// over a channel region in /dev/shm and plays the runner's part itself: it parks on the runner
// doorbell's futex and wakes the supervisor doorbell. Shutdown is a flag set from a signal handler
// (the control ring is not in the window), polled between bounded futex waits.
#pragma once

#include <atomic>
#include <cstdint>

#include "guest/agent/agent_doorbell.h"
#include "guest/agent/window.h"
#include "ipc/doorbell.h"

namespace snapfaas::guest {

/// Host test mode's shutdown: SIGTERM/SIGINT handlers that set stop_flag(), the process-wide flag
/// to hand to FutexDoorbell (shared by the CPython agent and the Node addon).
void install_stop_handlers() noexcept;
[[nodiscard]] const std::atomic<bool>& stop_flag() noexcept;

class FutexDoorbell final : public AgentDoorbell {
 public:
  /// `window` must be mapped with a writable header page and outlive this object; `stop` is read
  /// (relaxed: it only ends the wait loop, no data hangs on it) after each bounded wait.
  FutexDoorbell(const Window& window, const std::atomic<bool>& stop) noexcept;

  [[nodiscard]] WaitAnswer wait_for_request(const std::function<bool()>& pending) noexcept override;
  void response_ready() noexcept override;
  void snapshot_point(ipc::SnapshotPoint point) noexcept override;
  void fatal(ipc::AgentFatal code) noexcept override;

  /// Number of snapshot points reported so far (for logs and tests).
  [[nodiscard]] unsigned snapshot_points() const noexcept { return snapshot_points_; }

 private:
  const std::atomic<bool>& stop_;
  ipc::Doorbell runner_bell_;
  ipc::Doorbell supervisor_bell_;
  unsigned snapshot_points_ = 0;
};

}  // namespace snapfaas::guest
