// AgentFailure: the setup-path error of the guest agent; carries the AgentFatal code that becomes
// both the kPortAgentFatal value and the process exit code.
#pragma once

#include <stdexcept>
#include <string>

#include "ipc/guest_abi.h"

namespace snapfaas::guest {

/// Thrown by setup steps (window mapping, iopl, Python start, import); main() reports and exits.
class AgentFailure : public std::runtime_error {
 public:
  AgentFailure(ipc::AgentFatal code, const std::string& message) : std::runtime_error(message), code_(code) {}
  [[nodiscard]] ipc::AgentFatal code() const noexcept { return code_; }

 private:
  ipc::AgentFatal code_;
};

}  // namespace snapfaas::guest
