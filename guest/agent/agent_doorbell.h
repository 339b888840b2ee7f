// AgentDoorbell: how the agent talks to its runner outside the rings. Two implementations:
// PortIoDoorbell (the guest: port I/O exits, ipc/guest_abi.h) and FutexDoorbell (host tests: the
// ipc futex doorbells of the channel directly, no VM).
#pragma once

#include <cstdint>
#include <functional>

#include "ipc/guest_abi.h"

namespace snapfaas::guest {

/// Answer of wait_for_request().
struct WaitAnswer {
  enum class Kind {
    kRequest,   ///< the request ring is non-empty: pop it
    kShutdown,  ///< stop serving, exit 0
    kBad,       ///< the runner answered neither (value holds it): AgentFatal::kBadWaitAnswer
  };
  Kind kind = Kind::kRequest;
  std::uint32_t value = 0;  ///< the raw answer (for the kBad log line)
};

/// The agent's out-of-ring signals. Used from the agent's one thread only.
class AgentDoorbell {
 public:
  virtual ~AgentDoorbell() = default;
  /// Blocks (no CPU) until the request ring is non-empty or shutdown is requested. `pending` is the
  /// agent's own view (its ring consumer's readable()): the in-process implementation parks on it;
  /// in a VM the runner judges the ring itself and `pending` is not called.
  [[nodiscard]] virtual WaitAnswer wait_for_request(const std::function<bool()>& pending) noexcept = 0;
  /// A response was pushed and the supervisor sleeps: wake it.
  virtual void response_ready() noexcept = 0;
  /// Reports a snapshot point (firerunner --dump_dir saves there; otherwise it is only logged).
  virtual void snapshot_point(ipc::SnapshotPoint point) noexcept = 0;
  /// Reports a fatal error just before the agent exits with `code`.
  virtual void fatal(ipc::AgentFatal code) noexcept = 0;
};

}  // namespace snapfaas::guest
