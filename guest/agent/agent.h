// Agent: the guest agent's serving loop. Polls the request ring for a bounded spin (exitless under
// load), parks on the WAIT doorbell when idle, answers each request in place in its slot, pushes
// the response and rings RESPONSE_READY only when the supervisor sleeps. Response format: see
// guest/agent/python_runtime.h.
#pragma once

#include <chrono>
#include <cstdint>

#include "guest/agent/agent_doorbell.h"
#include "guest/agent/python_runtime.h"
#include "guest/agent/reaper.h"
#include "guest/agent/restore_watcher.h"
#include "guest/agent/window.h"
#include "ipc/doorbell.h"
#include "ipc/ring.h"

namespace snapfaas::guest {

struct AgentOptions {
  std::chrono::nanoseconds spin = std::chrono::microseconds(50);  ///< poll this long before WAIT
  InFlightPage* in_flight = nullptr;  ///< the reaper's view of the request being handled (optional)
  RestoreWatcher* restore = nullptr;  ///< checked after each WAIT: a new restore reseeds (optional)
};

/// Counters of one run (for the exit log line).
struct AgentStats {
  std::uint64_t served = 0;     ///< responses pushed
  std::uint64_t errors = 0;     ///< of which error responses (any status but kOk)
  std::uint64_t waits = 0;      ///< WAIT doorbells (parks)
  std::uint64_t wakeups = 0;    ///< RESPONSE_READY doorbells
};

/// Applies a restore record not consumed yet (RestoreWatcher::poll: kernel CRNG + clock), then the
/// runtime's reseed and on_restore(); logs what it cost. False when there was none.
bool apply_restore(RestoreWatcher& watcher, PythonRuntime& python, const std::uint8_t* header_page) noexcept;

/// Serves one window. Does not own its collaborators; single-threaded.
class Agent {
 public:
  Agent(const Window& window, AgentDoorbell& doorbell, PythonRuntime& python, AgentOptions options) noexcept;

  /// Serves until WAIT answers shutdown (returns 0) or a ring turns out corrupt (reports
  /// AgentFatal::kRingCorrupt through the doorbell and returns its code). Never throws.
  [[nodiscard]] int run() noexcept;

  [[nodiscard]] const AgentStats& stats() const noexcept { return stats_; }

 private:
  /// Answers one popped request (bad slot/length → kRejected error response). False when the
  /// response ring is corrupt.
  [[nodiscard]] bool serve(const ipc::RequestDesc& request) noexcept;
  [[nodiscard]] bool push_response(const ipc::ResponseDesc& response) noexcept;
  [[nodiscard]] bool spin_for_request() const noexcept;
  void check_restore() noexcept;

  const Window& window_;
  AgentDoorbell& doorbell_;
  PythonRuntime& python_;
  AgentOptions options_;
  ipc::RingConsumer<ipc::RequestDesc> requests_;
  ipc::RingProducer<ipc::ResponseDesc> responses_;
  ipc::Doorbell supervisor_bell_;  // only needs_wake(): reads `sleeping`, never writes the header page
  AgentStats stats_;
};

}  // namespace snapfaas::guest
