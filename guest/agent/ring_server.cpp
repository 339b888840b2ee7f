// RingServer: wake the supervisor if needed → adaptive spin → WAIT → pop → check → (runtime handles
// in place) → push.
#include "guest/agent/ring_server.h"

#include <time.h>

#include <string>

#include "guest/agent/agent_log.h"
#include "guest/agent/error_json.h"
#include "ipc/ipc_error.h"

namespace snapfaas::guest {
namespace {
// A full response ring means the supervisor stopped consuming; give it this long.
constexpr auto kPushPatience = std::chrono::seconds(5);
}  // namespace

RingServer::RingServer(const Window& window, AgentDoorbell& doorbell, AgentOptions options) noexcept
    : window_(window),
      doorbell_(doorbell),
      options_(options),
      requests_(window.request_ring()),
      responses_(window.response_ring()),
      supervisor_bell_(window.supervisor_doorbell()),
      spin_(ipc::spin_units(options.spin)) {}

bool RingServer::spin_for_request() noexcept {
  const bool readable = requests_.readable();
  // Responses pushed while the supervisor slept: wake it now unless the WAIT below will (nothing
  // queued and no spin first: a WAIT does what RESPONSE_READY does, ipc/guest_abi.h).
  if (std::exchange(wake_pending_, false) && (readable || spin_.peek() != 0)) {
    ++stats_.wakeups;
    doorbell_.response_ready();
  }
  if (readable) return true;
  return ipc::adaptive_poll(spin_, [this] { return requests_.readable(); }, ipc::steady_ns, [] {});
}

RingServer::Next RingServer::corrupt() noexcept {
  doorbell_.fatal(ipc::AgentFatal::kRingCorrupt);
  return Next::kRingCorrupt;
}

RingServer::Next RingServer::next(ServedRequest& out) noexcept {
  for (;;) {
    if (!spin_for_request()) {
      ++stats_.waits;
      const WaitAnswer answer = doorbell_.wait_for_request([this] { return requests_.readable(); });
      if (options_.restore != nullptr) {  // a restore happens only while the vCPU is parked in an exit
        if (auto record = options_.restore->poll(window_.header_page())) restored_ = *record;
      }
      if (answer.kind == WaitAnswer::Kind::kBad) {
        log(LogLevel::kError, "WAIT answered %u (neither ready nor shutdown)", answer.value);
        doorbell_.fatal(ipc::AgentFatal::kBadWaitAnswer);
        return Next::kBadWaitAnswer;
      }
      if (answer.kind == WaitAnswer::Kind::kShutdown) {
        log(LogLevel::kInfo, "shutdown requested: served %llu requests (%llu errors, %llu waits, %llu wakeups)",
            static_cast<unsigned long long>(stats_.served), static_cast<unsigned long long>(stats_.errors),
            static_cast<unsigned long long>(stats_.waits), static_cast<unsigned long long>(stats_.wakeups));
        return Next::kShutdown;
      }
    }
    ipc::Result<ipc::RequestDesc> request = requests_.try_pop();
    if (!request) {
      if (request.error() == ipc::IpcError::kRingEmpty) continue;  // WAIT raced with nothing: wait again
      log(LogLevel::kError, "request ring: %s", ipc::to_string(request.error()));
      return corrupt();
    }
    const std::span<std::uint8_t> slot = window_.slot(request->slot);
    ipc::ResponseDesc response{request->request_id, request->slot, 0, 0, 0};
    if (slot.empty()) {
      // No slot to write an error into: an empty kRejected response names the bad slot.
      log(LogLevel::kWarn, "request %llu: slot %u out of range (%u slots)",
          static_cast<unsigned long long>(request->request_id), request->slot, window_.slot_count());
      response.status = static_cast<std::uint32_t>(ipc::ResponseStatus::kRejected);
    } else if (request->length > slot.size()) {
      log(LogLevel::kWarn, "request %llu: length %u exceeds the slot size %zu",
          static_cast<unsigned long long>(request->request_id), request->length, slot.size());
      response.status = static_cast<std::uint32_t>(ipc::ResponseStatus::kRejected);
      response.length = write_error_json(slot, ipc::ErrorType::kBadRequest,
                                         "request length " + std::to_string(request->length) +
                                             " exceeds the slot size of " + std::to_string(slot.size()) + " bytes");
    } else {
      out = ServedRequest{*request, slot, slot.first(request->length)};
      if (options_.in_flight != nullptr) options_.in_flight->begin(request->request_id, request->slot);
      return Next::kRequest;
    }
    ++stats_.errors;
    if (!push_response(response)) return corrupt();
  }
}

bool RingServer::finish(const ServedRequest& request, const HandlerOutcome& outcome) noexcept {
  // Answered: from here the reaper must not answer it again (a death now loses only the push,
  // and the supervisor's deadline covers that).
  if (options_.in_flight != nullptr) options_.in_flight->end();
  ipc::ResponseDesc response{request.desc.request_id, request.desc.slot, 0, 0, 0};
  response.status = static_cast<std::uint32_t>(outcome.status);
  // Which restore this clone had applied (reseeded) before it ran the handler: the supervisor
  // reports it per cold request (results' restore_generation).
  if (options_.restore != nullptr) response.restore_generation = static_cast<std::uint32_t>(options_.restore->generation());
  response.length = outcome.length;
  if (outcome.status != ipc::ResponseStatus::kOk) ++stats_.errors;
  if (push_response(response)) return true;
  doorbell_.fatal(ipc::AgentFatal::kRingCorrupt);
  return false;
}

bool RingServer::push_response(const ipc::ResponseDesc& response) noexcept {
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
  // needs_wake: SEQ_CST fence, then load sleeping (pairs with the supervisor's fence in wait()). The
  // wake itself waits for the end of the batch (spin_for_request).
  if (supervisor_bell_.needs_wake()) wake_pending_ = true;
  return true;
}

}  // namespace snapfaas::guest
