// NativeAgent: doorbell + window + RingServer for the Node.js agent's JS loop.
#include "guest/node/native_agent.h"

#include <signal.h>

#include <stdexcept>
#include <utility>

#include "guest/agent/agent_failure.h"
#include "guest/agent/error_json.h"
#include "guest/agent/futex_doorbell.h"
#include "guest/agent/port_io_doorbell.h"
#include "guest/node/reseed.h"

namespace snapfaas::guest::node {

NativeAgent::NativeAgent(const NativeAgentOptions& options)
    : options_(options), restore_(!options.futex) {  // host tests leave the host's kernel and clock alone
  if (options_.futex) {
    install_stop_handlers();
    options_.source.writable_header = true;  // the futex doorbell words live in the header page
  } else {
    // iopl(3) first: refused means we do not run in a SnapFaaS guest; no port is touched before
    // the window header validated.
    doorbell_ = PortIoDoorbell::create();
  }
  window_.emplace(Window::map(options_.source));
  if (options_.futex) doorbell_ = std::make_unique<FutexDoorbell>(*window_, stop_flag());
  if (options_.in_flight_fd >= 0) {
    in_flight_.emplace(InFlightPage::adopt(std::exchange(options_.in_flight_fd, -1)));
    options_.server.in_flight = &*in_flight_;
  }
  options_.server.restore = &restore_;
  server_.emplace(*window_, *doorbell_, options_.server);
}

bool NativeAgent::snapshot_point(ipc::SnapshotPoint point) noexcept {
  doorbell_->snapshot_point(point);
  if (auto record = restore_.poll(window_->header_page())) {
    record_ = *record;
    return true;
  }
  return false;
}

void NativeAgent::fresh_entropy(std::span<std::uint8_t> out) noexcept {
  fill_fresh_entropy(out);
  if (record_) {
    for (std::size_t i = 0; i < out.size(); ++i) out[i] ^= record_->entropy[i % ipc::kRestoreEntropyBytes];
    record_.reset();
  }
}

void NativeAgent::remap() {
  if (lent_) throw AgentFailure(ipc::AgentFatal::kWindowMap, "window remap after its slots were lent out");
  if (options_.futex) return;  // the host test's channel never changes under the agent
  server_.reset();
  window_.reset();
  window_.emplace(Window::map(options_.source));
  server_.emplace(*window_, *doorbell_, options_.server);
}

std::optional<ServedRequest> NativeAgent::next(int* exit_code, bool* restored) noexcept {
  ServedRequest request;
  const RingServer::Next next = server_->next(request);
  if (auto record = server_->take_restore()) record_ = *record;
  *restored = record_.has_value();
  switch (next) {
    case RingServer::Next::kRequest: current_ = request; return request;
    case RingServer::Next::kShutdown: *exit_code = 0; break;
    case RingServer::Next::kRingCorrupt: *exit_code = static_cast<int>(ipc::AgentFatal::kRingCorrupt); break;
    case RingServer::Next::kBadWaitAnswer: *exit_code = static_cast<int>(ipc::AgentFatal::kBadWaitAnswer); break;
  }
  current_.reset();
  return std::nullopt;
}

bool NativeAgent::finish(const HandlerOutcome& outcome) {
  if (!current_) throw std::logic_error("no request outstanding");
  const ServedRequest request = *current_;
  current_.reset();
  return server_->finish(request, outcome);
}

bool NativeAgent::finish_function_error(const std::string& exception, const std::string& message,
                                        const std::string& traceback, std::uint64_t duration_ns) {
  if (!current_) throw std::logic_error("no request outstanding");
  const std::uint32_t length = write_error_json(
      current_->slot, ipc::ErrorType::kFunctionError, message,
      {ErrorField::str("exception", exception), ErrorField::str("traceback", utf8_head(traceback, ipc::kMaxTraceback))},
      duration_ns);
  return finish(HandlerOutcome{ipc::ResponseStatus::kHandlerError, length, duration_ns});
}

bool NativeAgent::finish_bad_request(const std::string& exception, const std::string& message) {
  if (!current_) throw std::logic_error("no request outstanding");
  const std::uint32_t length = write_error_json(current_->slot, ipc::ErrorType::kBadRequest, message,
                                                {ErrorField::str("exception", exception)});
  return finish(HandlerOutcome{ipc::ResponseStatus::kRejected, length, 0});
}

bool NativeAgent::finish_too_large(std::uint64_t size, std::uint64_t duration_ns) {
  if (!current_) throw std::logic_error("no request outstanding");
  const std::uint64_t limit = current_->slot.size();
  const std::uint32_t length = write_error_json(
      current_->slot, ipc::ErrorType::kResponseTooLarge,
      "response of " + std::to_string(size) + " bytes exceeds the slot size of " + std::to_string(limit) + " bytes",
      {ErrorField::num("size", static_cast<std::int64_t>(size)), ErrorField::num("limit", static_cast<std::int64_t>(limit))},
      duration_ns);
  return finish(HandlerOutcome{ipc::ResponseStatus::kHandlerError, length, duration_ns});
}

std::span<std::uint8_t> NativeAgent::lend_slot(std::uint32_t index) noexcept {
  lent_ = true;
  return window_->slot(index);
}

}  // namespace snapfaas::guest::node
