// RingServer: the runtime-independent half of the guest agent's serving loop, shared by the
// CPython agent (guest/agent/agent.h) and the Node.js agent (guest/node/): polls the request ring
// for an adaptive spin (ipc/adaptive_spin.h: exitless under load, parks at once while requests are
// sparse), parks on the WAIT doorbell when idle, pops and checks each request, and pushes the
// response written in place in its slot. The supervisor, when it sleeps, is woken once per batch:
// by RESPONSE_READY before a spin, else by the WAIT itself (one exit per sparse request). The
// runtime calls next(), handles the payload, then finish().
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>

#include "guest/agent/agent_doorbell.h"
#include "guest/agent/handler_outcome.h"
#include "guest/agent/reaper.h"
#include "guest/agent/restore_watcher.h"
#include "guest/agent/window.h"
#include "ipc/adaptive_spin.h"
#include "ipc/doorbell.h"
#include "ipc/ring.h"

namespace snapfaas::guest {

struct AgentOptions {
  std::chrono::nanoseconds spin = std::chrono::microseconds(50);  ///< poll at most this long before WAIT
  InFlightPage* in_flight = nullptr;  ///< the reaper's view of the request being handled (optional)
  RestoreWatcher* restore = nullptr;  ///< checked after each WAIT: a new restore reseeds (optional)
};

/// Counters of one run (for the exit log line).
struct AgentStats {
  std::uint64_t served = 0;     ///< responses pushed
  std::uint64_t errors = 0;     ///< of which error responses (any status but kOk)
  std::uint64_t waits = 0;      ///< WAIT doorbells (parks)
  std::uint64_t wakeups = 0;    ///< RESPONSE_READY doorbells (a WAIT wakes a sleeping supervisor too)
};

/// A popped request whose slot and length were checked: payload = slot[0, desc.length).
struct ServedRequest {
  ipc::RequestDesc desc{};
  std::span<std::uint8_t> slot;            ///< the whole slot (the response is written here)
  std::span<const std::uint8_t> payload;   ///< the request bytes, inside `slot`
};

/// Pumps one window. Does not own its collaborators; single-threaded.
class RingServer {
 public:
  enum class Next {
    kRequest,      ///< *out holds a request: handle it, then finish()
    kShutdown,     ///< WAIT answered shutdown: exit 0
    kRingCorrupt,  ///< a ring is corrupt: AgentFatal::kRingCorrupt was reported, exit with it
    kBadWaitAnswer,  ///< WAIT answered neither ready nor shutdown: AgentFatal::kBadWaitAnswer reported
  };

  RingServer(const Window& window, AgentDoorbell& doorbell, AgentOptions options) noexcept;

  /// Waits for the next usable request. Requests with a bad slot or length are answered here
  /// (kRejected, bad_request) and never returned. A returned request is marked in flight for the
  /// reaper until finish(). Never throws.
  [[nodiscard]] Next next(ServedRequest& out) noexcept;

  /// The restore record applied after the last WAIT (a restore happens only while the vCPU is
  /// parked in an exit), once: the runtime reseeds its own generators from it before handling.
  [[nodiscard]] std::optional<ipc::RestoreRecord> take_restore() noexcept { return std::exchange(restored_, {}); }

  /// Pushes the response `outcome` describes (written at the start of request.slot). False when
  /// the response ring is corrupt or stays full (AgentFatal::kRingCorrupt reported). Never throws.
  [[nodiscard]] bool finish(const ServedRequest& request, const HandlerOutcome& outcome) noexcept;

  [[nodiscard]] const AgentStats& stats() const noexcept { return stats_; }

 private:
  [[nodiscard]] bool push_response(const ipc::ResponseDesc& response) noexcept;
  [[nodiscard]] bool spin_for_request() noexcept;
  [[nodiscard]] Next corrupt() noexcept;

  const Window& window_;
  AgentDoorbell& doorbell_;
  AgentOptions options_;
  ipc::RingConsumer<ipc::RequestDesc> requests_;
  ipc::RingProducer<ipc::ResponseDesc> responses_;
  ipc::Doorbell supervisor_bell_;  // only needs_wake(): reads `sleeping`, never writes the header page
  ipc::AdaptiveSpin spin_;         // how long to poll before WAIT (ns, at most options_.spin)
  bool wake_pending_ = false;      // responses pushed while the supervisor slept, not yet rung for
  AgentStats stats_;
  std::optional<ipc::RestoreRecord> restored_;
};

}  // namespace snapfaas::guest
