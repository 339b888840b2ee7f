// AgentDoorbell: how the agent talks to its runner outside the rings. Two implementations:
// PortIoDoorbell (the guest: port I/O exits, ipc/guest_abi.h) and FutexDoorbell (host tests: the
// ipc futex doorbells of the channel directly, no VM).
#pragma once

#include <cstdint>

#include "ipc/guest_abi.h"

namespace snapfaas::guest {

/// Answer of wait_for_request().
struct WaitAnswer {
  enum class Kind { kRequest, kShutdown };
  Kind kind = Kind::kRequest;
  std::uint32_t slot = 0;  ///< kRequest: slot field at the ring head (a hint; the popped entry rules)
};

/// The agent's out-of-ring signals. Used from the agent's one thread only.
class AgentDoorbell {
 public:
  virtual ~AgentDoorbell() = default;
  /// Blocks (no CPU) until the request ring is non-empty or shutdown is requested.
  [[nodiscard]] virtual WaitAnswer wait_for_request() noexcept = 0;
  /// A response was pushed and the supervisor sleeps: wake it.
  virtual void response_ready(std::uint32_t slot) noexcept = 0;
  /// Reports a snapshot point (ignored by the runner until snapshots land).
  virtual void snapshot_point(ipc::SnapshotPoint point) noexcept = 0;
  /// Reports a fatal error just before the agent exits with `code`.
  virtual void fatal(ipc::AgentFatal code) noexcept = 0;
};

}  // namespace snapfaas::guest
