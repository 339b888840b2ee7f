// VM-wide state ioctls (KVM API doc 4.26/4.27 IRQCHIP, 4.73/4.74 PIT2, 4.79/4.80 CLOCK).
#include "runner/snapshot/vm_state.h"

#include <sys/ioctl.h>

#include "common/error.h"

namespace snapfaas::runner::snapshot {

namespace {
kvm_irqchip get_chip(const KvmVm& vm, std::uint32_t id) {
  kvm_irqchip chip{};
  chip.chip_id = id;
  common::check_sys(::ioctl(vm.fd(), KVM_GET_IRQCHIP, &chip), "KVM_GET_IRQCHIP " + std::to_string(id));
  return chip;
}
void set_chip(const KvmVm& vm, const kvm_irqchip& chip, std::uint32_t id) {
  if (chip.chip_id != id) throw common::Error("state: irqchip record " + std::to_string(id) + " has the wrong chip id");
  common::check_sys(::ioctl(vm.fd(), KVM_SET_IRQCHIP, &chip), "KVM_SET_IRQCHIP " + std::to_string(id));
}
}  // namespace

VmState capture_vm_state(const KvmVm& vm) {
  VmState s;
  s.irqchip = vm.has_irqchip();
  if (s.irqchip) {
    s.pic_master = get_chip(vm, KVM_IRQCHIP_PIC_MASTER);
    s.pic_slave = get_chip(vm, KVM_IRQCHIP_PIC_SLAVE);
    s.ioapic = get_chip(vm, KVM_IRQCHIP_IOAPIC);
    s.pit = true;
    common::check_sys(::ioctl(vm.fd(), KVM_GET_PIT2, &s.pit2), "KVM_GET_PIT2");
  }
  common::check_sys(::ioctl(vm.fd(), KVM_GET_CLOCK, &s.clock), "KVM_GET_CLOCK");
  return s;
}

void apply_vm_state(const KvmVm& vm, const VmState& s) {
  if (s.irqchip != vm.has_irqchip()) {
    throw common::Error(std::string("state: snapshot was taken ") + (s.irqchip ? "with" : "without") +
                        " an in-kernel irqchip, the target VM differs");
  }
  if (s.irqchip) {
    set_chip(vm, s.pic_master, KVM_IRQCHIP_PIC_MASTER);
    set_chip(vm, s.pic_slave, KVM_IRQCHIP_PIC_SLAVE);
    set_chip(vm, s.ioapic, KVM_IRQCHIP_IOAPIC);
    if (s.pit) common::check_sys(::ioctl(vm.fd(), KVM_SET_PIT2, &s.pit2), "KVM_SET_PIT2");
  }
  kvm_clock_data clock = s.clock;
  clock.flags = 0;  // only the clock value is restored (KVM_CLOCK_REALTIME etc. are host facts)
  common::check_sys(::ioctl(vm.fd(), KVM_SET_CLOCK, &clock), "KVM_SET_CLOCK");
}

}  // namespace snapfaas::runner::snapshot
