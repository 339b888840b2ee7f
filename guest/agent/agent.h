// Agent: the CPython agent's serving loop: RingServer (guest/agent/ring_server.h) for the rings,
// doorbells, restore records and the reaper's in-flight mark, PythonRuntime for each payload,
// answered in place in its slot. Response format: guest/agent/python_runtime.h.
#pragma once

#include "guest/agent/agent_doorbell.h"
#include "guest/agent/python_runtime.h"
#include "guest/agent/ring_server.h"
#include "guest/agent/window.h"

namespace snapfaas::guest {

/// Applies a restore record not consumed yet (RestoreWatcher::poll: kernel CRNG + clock), then the
/// runtime's reseed and on_restore(); logs what it cost. False when there was none. For the
/// snapshot point's return (the agent's main); after a WAIT, Agent::run does the same.
bool apply_restore(RestoreWatcher& watcher, PythonRuntime& python, const std::uint8_t* header_page) noexcept;

/// Serves one window. Does not own its collaborators; single-threaded.
class Agent {
 public:
  Agent(const Window& window, AgentDoorbell& doorbell, PythonRuntime& python, AgentOptions options) noexcept;

  /// Serves until WAIT answers shutdown (returns 0) or a ring turns out corrupt (reports
  /// AgentFatal::kRingCorrupt through the doorbell and returns its code). Never throws.
  [[nodiscard]] int run() noexcept;

  [[nodiscard]] const AgentStats& stats() const noexcept { return server_.stats(); }

 private:
  PythonRuntime& python_;
  RestoreWatcher* restore_;  // options.restore (for the kernel-side cost in the log line)
  RingServer server_;
};

}  // namespace snapfaas::guest
