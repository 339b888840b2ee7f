// Interrupt: how a device signals its guest interrupt line. The runner implements it with an
// eventfd registered through KVM_IRQFD (edge on a GSI of the in-kernel IOAPIC); tests count calls.
#pragma once

namespace snapfaas::runner {

/// One guest interrupt line. trigger() may be called from any thread.
class Interrupt {
 public:
  virtual ~Interrupt() = default;
  /// Injects one edge on the line. Never throws; a failure is logged by the implementation.
  virtual void trigger() noexcept = 0;
};

}  // namespace snapfaas::runner
