// Agent serving loop: RingServer::next → (a restore: PythonRuntime::reseed) → PythonRuntime::handle
// in place → RingServer::finish.
#include "guest/agent/agent.h"

#include <chrono>

#include "guest/agent/agent_log.h"
#include "ipc/restore_record.h"

namespace snapfaas::guest {
namespace {

// The runtime's half of a restore (random, tempfile, multiprocessing, on_restore), logged with
// the kernel half's cost (RestoreWatcher: CRNG + clock) so a restore's guest-side price is visible
// (--verbose). At debug level only: the guest's console is a UART, an exit to the VMM per byte, and
// this line cost each cold start ~50 ms of its resume in the emulated host (written after the
// response instead, it delayed the VM's next requests as much). That a clone applied its record
// reaches the supervisor with every response instead (ResponseDesc::restore_generation).
void reseed_runtime(PythonRuntime& python, const ipc::RestoreRecord& record, std::uint64_t kernel_ns) noexcept {
  const auto t0 = std::chrono::steady_clock::now();
  (void)python.reseed(std::span<const std::uint8_t>(record.entropy, ipc::kRestoreEntropyBytes));
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
  log(LogLevel::kDebug, "restore: generation %llu applied (kernel CRNG + clock %llu us, runtime reseed %lld us)",
      static_cast<unsigned long long>(ipc::restore_generation(record)),
      static_cast<unsigned long long>(kernel_ns / 1000), static_cast<long long>(us));
}

}  // namespace

bool apply_restore(RestoreWatcher& watcher, PythonRuntime& python, const std::uint8_t* header_page) noexcept {
  const auto record = watcher.poll(header_page);
  if (!record) return false;
  reseed_runtime(python, *record, watcher.last_kernel_ns());
  return true;
}

Agent::Agent(const Window& window, AgentDoorbell& doorbell, PythonRuntime& python, AgentOptions options) noexcept
    : python_(python), restore_(options.restore), server_(window, doorbell, options) {}

int Agent::run() noexcept {
  for (;;) {
    ServedRequest request;
    const RingServer::Next next = server_.next(request);
    if (const auto record = server_.take_restore()) {
      reseed_runtime(python_, *record, restore_ != nullptr ? restore_->last_kernel_ns() : 0);
    }
    switch (next) {
      case RingServer::Next::kShutdown: return 0;
      case RingServer::Next::kRingCorrupt: return static_cast<int>(ipc::AgentFatal::kRingCorrupt);
      case RingServer::Next::kBadWaitAnswer: return static_cast<int>(ipc::AgentFatal::kBadWaitAnswer);
      case RingServer::Next::kRequest: break;
    }
    if (!server_.finish(request, python_.handle(request.payload, request.slot))) {
      return static_cast<int>(ipc::AgentFatal::kRingCorrupt);
    }
  }
}

}  // namespace snapfaas::guest
