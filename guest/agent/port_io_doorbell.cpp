// PortIoDoorbell: iopl(3) once, then one port access per signal.
#include "guest/agent/port_io_doorbell.h"

#include <sys/io.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "guest/agent/agent_failure.h"

namespace snapfaas::guest {

std::unique_ptr<PortIoDoorbell> PortIoDoorbell::create() {
  if (::iopl(3) != 0) {
    throw AgentFailure(ipc::AgentFatal::kPortAccess, std::string("iopl(3): ") + std::strerror(errno));
  }
  return std::unique_ptr<PortIoDoorbell>(new PortIoDoorbell());
}

WaitAnswer PortIoDoorbell::wait_for_request(const std::function<bool()>&) noexcept {
  const std::uint32_t value = ipc::port_in32(ipc::kPortWait);  // the runner judges the ring
  if (value == ipc::kWaitShutdown) return {WaitAnswer::Kind::kShutdown, value};
  if (value == ipc::kWaitReady) return {WaitAnswer::Kind::kRequest, value};
  return {WaitAnswer::Kind::kBad, value};
}

void PortIoDoorbell::response_ready() noexcept { ipc::port_out32(ipc::kPortResponseReady, 0); }

void PortIoDoorbell::snapshot_point(ipc::SnapshotPoint point) noexcept {
  ipc::port_out32(ipc::kPortSnapshotPoint, static_cast<std::uint32_t>(point));
}

void PortIoDoorbell::fatal(ipc::AgentFatal code) noexcept {
  ipc::port_out32(ipc::kPortAgentFatal, static_cast<std::uint32_t>(code));
}

}  // namespace snapfaas::guest
