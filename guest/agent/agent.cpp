// Agent serving loop: spin → WAIT → pop → handle in place → push → RESPONSE_READY if needed.
#include "guest/agent/agent.h"

#include <time.h>

#include <string>

#include "guest/agent/agent_log.h"
#include "ipc/ipc_error.h"

namespace snapfaas::guest {
namespace {
// A full response ring means the supervisor stopped consuming; give it this long.
constexpr auto kPushPatience = std::chrono::seconds(5);
}  // namespace

Agent::Agent(const Window& window, AgentDoorbell& doorbell, PythonRuntime& python, AgentOptions options) noexcept
    : window_(window),
      doorbell_(doorbell),
      python_(python),
      options_(options),
      requests_(window.request_ring()),
      responses_(window.response_ring()),
      supervisor_bell_(window.supervisor_doorbell()) {}

bool Agent::spin_for_request() const noexcept {
  if (options_.spin.count() <= 0) return requests_.readable();
  const auto until = std::chrono::steady_clock::now() + options_.spin;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (requests_.readable()) return true;
      ipc::cpu_relax();
    }
    if (std::chrono::steady_clock::now() >= until) return false;
  }
}

int Agent::run() noexcept {
  for (;;) {
    if (!spin_for_request()) {
      ++stats_.waits;
      const WaitAnswer answer = doorbell_.wait_for_request([this] { return requests_.readable(); });
      if (answer.kind == WaitAnswer::Kind::kBad) {
        log(LogLevel::kError, "WAIT answered %u (neither ready nor shutdown)", answer.value);
        doorbell_.fatal(ipc::AgentFatal::kBadWaitAnswer);
        return static_cast<int>(ipc::AgentFatal::kBadWaitAnswer);
      }
      if (answer.kind == WaitAnswer::Kind::kShutdown) {
        log(LogLevel::kInfo, "shutdown requested: served %llu requests (%llu errors, %llu waits, %llu wakeups)",
            static_cast<unsigned long long>(stats_.served), static_cast<unsigned long long>(stats_.errors),
            static_cast<unsigned long long>(stats_.waits), static_cast<unsigned long long>(stats_.wakeups));
        return 0;
      }
    }
    ipc::Result<ipc::RequestDesc> request = requests_.try_pop();
    if (!request) {
      if (request.error() == ipc::IpcError::kRingEmpty) continue;  // WAIT raced with nothing: wait again
      log(LogLevel::kError, "request ring: %s", ipc::to_string(request.error()));
      doorbell_.fatal(ipc::AgentFatal::kRingCorrupt);
      return static_cast<int>(ipc::AgentFatal::kRingCorrupt);
    }
    if (!serve(*request)) {
      doorbell_.fatal(ipc::AgentFatal::kRingCorrupt);
      return static_cast<int>(ipc::AgentFatal::kRingCorrupt);
    }
  }
}

bool Agent::serve(const ipc::RequestDesc& request) noexcept {
  const std::span<std::uint8_t> slot = window_.slot(request.slot);
  ipc::ResponseDesc response{request.request_id, request.slot, 0, 0, 0};
  if (slot.empty()) {
    // No slot to write an error into: an empty kRejected response names the bad slot.
    log(LogLevel::kWarn, "request %llu: slot %u out of range (%u slots)",
        static_cast<unsigned long long>(request.request_id), request.slot, window_.slot_count());
    response.status = static_cast<std::uint32_t>(ipc::ResponseStatus::kRejected);
  } else if (request.length > slot.size()) {
    log(LogLevel::kWarn, "request %llu: length %u exceeds the slot size %zu",
        static_cast<unsigned long long>(request.request_id), request.length, slot.size());
    response.status = static_cast<std::uint32_t>(ipc::ResponseStatus::kRejected);
    response.length = write_error_json(slot, "BadRequest",
                                       "request length " + std::to_string(request.length) +
                                           " exceeds the slot size of " + std::to_string(slot.size()) + " bytes",
                                       0);
  } else {
    const HandlerOutcome outcome = python_.handle(slot.first(request.length), slot);
    response.status = static_cast<std::uint32_t>(outcome.status);
    response.length = outcome.length;
  }
  if (response.status != static_cast<std::uint32_t>(ipc::ResponseStatus::kOk)) ++stats_.errors;
  return push_response(response);
}

bool Agent::push_response(const ipc::ResponseDesc& response) noexcept {
  const auto give_up = std::chrono::steady_clock::now() + kPushPatience;
  for (;;) {
    const ipc::Status pushed = responses_.try_push(response);
    if (pushed) break;
    if (pushed.error() != ipc::IpcError::kRingFull || std::chrono::steady_clock::now() >= give_up) {
      log(LogLevel::kError, "response ring: %s", ipc::to_string(pushed.error()));
      return false;
    }
    doorbell_.response_ready();  // make sure the supervisor is awake to drain it
    const timespec pause{0, 100'000};
    ::nanosleep(&pause, nullptr);
  }
  ++stats_.served;
  // needs_wake: SEQ_CST fence, then load sleeping (pairs with the supervisor's fence in wait()).
  if (supervisor_bell_.needs_wake()) {
    ++stats_.wakeups;
    doorbell_.response_ready();
  }
  return true;
}

}  // namespace snapfaas::guest
