// IrqFdInterrupt: a device interrupt line implemented as an eventfd registered with KVM_IRQFD, so a
// device thread injects an edge on a GSI of the in-kernel IOAPIC without a vCPU exit.
#pragma once

#include <cstdint>

#include "common/unique_fd.h"
#include "runner/devices/interrupt.h"
#include "runner/kvm/kvm_vm.h"

namespace snapfaas::runner {

/// Owns the eventfd; the registration lives as long as the VM fd (the VM must have an irqchip).
class IrqFdInterrupt : public Interrupt {
 public:
  /// Creates the eventfd and registers it for `gsi`. Throws common::Error.
  IrqFdInterrupt(KvmVm& vm, std::uint32_t gsi);

  void trigger() noexcept override;
  [[nodiscard]] std::uint32_t gsi() const noexcept { return gsi_; }

 private:
  common::UniqueFd event_;
  std::uint32_t gsi_;
};

}  // namespace snapfaas::runner
