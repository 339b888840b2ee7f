// IrqFdInterrupt: eventfd + KVM_IRQFD.
#include "runner/kvm/irqfd_interrupt.h"

#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/error.h"

namespace snapfaas::runner {

IrqFdInterrupt::IrqFdInterrupt(KvmVm& vm, std::uint32_t gsi)
    : event_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)), gsi_(gsi) {
  if (!event_) throw common::sys_error("eventfd for gsi " + std::to_string(gsi));
  vm.register_irqfd(event_.get(), gsi);
}

void IrqFdInterrupt::trigger() noexcept {
  const std::uint64_t one = 1;
  // EAGAIN means the counter is saturated: an edge is pending anyway.
  if (::write(event_.get(), &one, sizeof one) < 0 && errno != EAGAIN) {
    spdlog::error("irqfd gsi {}: {}", gsi_, std::strerror(errno));
  }
}

}  // namespace snapfaas::runner
