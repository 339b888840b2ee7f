// NativeAgent: doorbell + window + RingServer for the Node.js agent's JS loop.
#include "guest/node/native_agent.h"

#include <signal.h>

#include <stdexcept>

#include "guest/agent/agent_failure.h"
#include "guest/agent/futex_doorbell.h"
#include "guest/agent/port_io_doorbell.h"

namespace snapfaas::guest::node {
namespace {

std::atomic<bool> g_stop{false};  // futex mode: set by SIGTERM/SIGINT, read by FutexDoorbell

extern "C" void on_stop_signal(int) { g_stop.store(true, std::memory_order_relaxed); }

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGTERM, &action, nullptr);
  ::sigaction(SIGINT, &action, nullptr);
}

}  // namespace

NativeAgent::NativeAgent(const NativeAgentOptions& options) : options_(options) {
  if (options_.futex) {
    install_stop_handlers();
    options_.source.writable_header = true;  // the futex doorbell words live in the header page
  } else {
    // iopl(3) first: refused means we do not run in a SnapFaaS guest; no port is touched before
    // the window header validated.
    doorbell_ = PortIoDoorbell::create();
  }
  window_.emplace(Window::map(options_.source));
  if (options_.futex) doorbell_ = std::make_unique<FutexDoorbell>(*window_, g_stop);
  server_.emplace(*window_, *doorbell_, options_.server);
}

void NativeAgent::remap() {
  if (lent_) throw AgentFailure(ipc::AgentFatal::kWindowMap, "window remap after its slots were lent out");
  if (options_.futex) return;  // the host test's channel never changes under the agent
  server_.reset();
  window_.reset();
  window_.emplace(Window::map(options_.source));
  server_.emplace(*window_, *doorbell_, options_.server);
}

std::optional<ServedRequest> NativeAgent::next(int* exit_code) noexcept {
  ServedRequest request;
  switch (server_->next(request)) {
    case RingServer::Next::kRequest: current_ = request; return request;
    case RingServer::Next::kShutdown: *exit_code = 0; break;
    case RingServer::Next::kRingCorrupt: *exit_code = static_cast<int>(ipc::AgentFatal::kRingCorrupt); break;
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

bool NativeAgent::finish_error(ipc::ResponseStatus status, const std::string& type, const std::string& message,
                               std::uint64_t duration_ns) {
  if (!current_) throw std::logic_error("no request outstanding");
  const std::uint32_t length = write_error_json(current_->slot, type, message, duration_ns);
  return finish(HandlerOutcome{status, length, duration_ns});
}

std::span<std::uint8_t> NativeAgent::lend_slot(std::uint32_t index) noexcept {
  lent_ = true;
  return window_->slot(index);
}

}  // namespace snapfaas::guest::node
