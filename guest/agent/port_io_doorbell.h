// PortIoDoorbell: the guest implementation of AgentDoorbell — `in`/`out` on the ports of
// ipc/guest_abi.h, each one VM exit served by the runner's vCPU thread.
#pragma once

#include <memory>

#include "guest/agent/agent_doorbell.h"

namespace snapfaas::guest {

class PortIoDoorbell final : public AgentDoorbell {
 public:
  /// Takes port access with iopl(3). Throws AgentFailure(kPortAccess).
  [[nodiscard]] static std::unique_ptr<PortIoDoorbell> create();

  [[nodiscard]] WaitAnswer wait_for_request(const std::function<bool()>& pending) noexcept override;
  void response_ready() noexcept override;
  void snapshot_point(ipc::SnapshotPoint point) noexcept override;
  void fatal(ipc::AgentFatal code) noexcept override;

 private:
  PortIoDoorbell() = default;
};

}  // namespace snapfaas::guest
