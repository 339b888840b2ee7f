// Agent serving loop: RingServer::next → (a restore: PythonRuntime::reseed) → PythonRuntime::handle
// in place → RingServer::finish.
#include "guest/agent/agent.h"

namespace snapfaas::guest {

Agent::Agent(const Window& window, AgentDoorbell& doorbell, PythonRuntime& python, AgentOptions options) noexcept
    : python_(python), server_(window, doorbell, options) {}

int Agent::run() noexcept {
  for (;;) {
    ServedRequest request;
    const RingServer::Next next = server_.next(request);
    if (const auto record = server_.take_restore()) {
      (void)python_.reseed(std::span<const std::uint8_t>(record->entropy, ipc::kRestoreEntropyBytes));
    }
    switch (next) {
      case RingServer::Next::kShutdown: return 0;
      case RingServer::Next::kRingCorrupt: return static_cast<int>(ipc::AgentFatal::kRingCorrupt);
      case RingServer::Next::kRequest: break;
    }
    if (!server_.finish(request, python_.handle(request.payload, request.slot))) {
      return static_cast<int>(ipc::AgentFatal::kRingCorrupt);
    }
  }
}

}  // namespace snapfaas::guest
