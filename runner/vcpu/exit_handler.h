// handle_exit: what the VMM does with one KVM_RUN exit. A free function over a kvm_run (real or
// fake) and the buses, so that every exit path is unit-tested without KVM.
#pragma once

#include <linux/kvm.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "runner/devices/bus.h"

namespace snapfaas::runner {

/// What the vCPU loop does next.
enum class ExitAction {
  kContinue,  ///< the exit was answered: KVM_RUN again
  kHalt,      ///< HLT with no in-kernel irqchip: this vCPU is done
  kShutdown,  ///< triple fault / KVM_SYSTEM_EVENT_SHUTDOWN
  kReset,     ///< KVM_SYSTEM_EVENT_RESET (reboot)
  kError,     ///< unhandled or malformed exit: stop the VM, `message` says why
};

struct ExitResult {
  ExitAction action = ExitAction::kContinue;
  std::string message;  ///< set for kError (names the exit reason and RIP) and kShutdown
};

/// The devices an exit is dispatched to, and how to read RIP for error messages (KVM_GET_REGS on
/// the live vCPU; tests pass a constant).
struct ExitContext {
  const Bus& pio;
  const Bus& mmio;
  std::function<std::uint64_t()> rip;
};

/// Name of a KVM_EXIT_* reason ("KVM_EXIT_IO", ..., "unknown (N)").
[[nodiscard]] std::string exit_reason_name(std::uint32_t reason);

/// Handles the exit described by `run` (whose mapping is `run_size` bytes). PIO/MMIO go to the
/// buses; accesses no device claims are logged (rate-limited) and reads answered with all-ones.
/// A malformed run struct (data_offset/size/count/len outside the mapping) is an error, never a
/// host memory access. Called on the vCPU thread only.
[[nodiscard]] ExitResult handle_exit(kvm_run& run, std::size_t run_size, const ExitContext& ctx) noexcept;

}  // namespace snapfaas::runner
