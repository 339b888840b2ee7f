// KvmVm: VM-wide KVM ioctls.
#include "runner/kvm/kvm_vm.h"

#include <sys/ioctl.h>

#include <string>

#include "common/error.h"

namespace snapfaas::runner {

KvmVm KvmVm::create(const KvmSystem& kvm) {
  return KvmVm(common::UniqueFd(common::check_sys(::ioctl(kvm.fd(), KVM_CREATE_VM, 0), "KVM_CREATE_VM")));
}

void KvmVm::set_tss_addr(std::uint64_t gpa) {
  common::check_sys(::ioctl(fd_.get(), KVM_SET_TSS_ADDR, static_cast<unsigned long>(gpa)), "KVM_SET_TSS_ADDR");
}

void KvmVm::set_identity_map_addr(std::uint64_t gpa) {
  __u64 addr = gpa;
  common::check_sys(::ioctl(fd_.get(), KVM_SET_IDENTITY_MAP_ADDR, &addr), "KVM_SET_IDENTITY_MAP_ADDR");
}

void KvmVm::create_irqchip() {
  common::check_sys(::ioctl(fd_.get(), KVM_CREATE_IRQCHIP, 0), "KVM_CREATE_IRQCHIP");
  irqchip_ = true;
}

void KvmVm::create_pit2() {
  kvm_pit_config config{};
  config.flags = KVM_PIT_SPEAKER_DUMMY;
  common::check_sys(::ioctl(fd_.get(), KVM_CREATE_PIT2, &config), "KVM_CREATE_PIT2");
}

void KvmVm::set_user_memory_region(std::uint32_t slot, std::uint64_t gpa, std::uint64_t size, void* host,
                                   std::uint32_t flags) {
  kvm_userspace_memory_region region{};
  region.slot = slot;
  region.flags = flags;
  region.guest_phys_addr = gpa;
  region.memory_size = size;
  region.userspace_addr = reinterpret_cast<std::uintptr_t>(host);
  common::check_sys(::ioctl(fd_.get(), KVM_SET_USER_MEMORY_REGION, &region),
                    "KVM_SET_USER_MEMORY_REGION slot " + std::to_string(slot));
}

void KvmVm::register_irqfd(int eventfd, std::uint32_t gsi) {
  kvm_irqfd req{};
  req.fd = static_cast<__u32>(eventfd);
  req.gsi = gsi;
  common::check_sys(::ioctl(fd_.get(), KVM_IRQFD, &req), "KVM_IRQFD gsi " + std::to_string(gsi));
}

void KvmVm::unregister_irqfd(int eventfd, std::uint32_t gsi) {
  kvm_irqfd req{};
  req.fd = static_cast<__u32>(eventfd);
  req.gsi = gsi;
  req.flags = KVM_IRQFD_FLAG_DEASSIGN;
  common::check_sys(::ioctl(fd_.get(), KVM_IRQFD, &req), "KVM_IRQFD deassign gsi " + std::to_string(gsi));
}

void KvmVm::set_irq_line(std::uint32_t gsi, bool level) {
  kvm_irq_level irq{};
  irq.irq = gsi;
  irq.level = level ? 1 : 0;
  common::check_sys(::ioctl(fd_.get(), KVM_IRQ_LINE, &irq), "KVM_IRQ_LINE gsi " + std::to_string(gsi));
}

std::vector<std::uint64_t> KvmVm::dirty_log(std::uint32_t slot, std::uint64_t slot_size) const {
  const std::uint64_t pages = (slot_size + 4095) / 4096;
  std::vector<std::uint64_t> bitmap((pages + 63) / 64, 0);
  kvm_dirty_log log{};
  log.slot = slot;
  log.dirty_bitmap = bitmap.data();
  common::check_sys(::ioctl(fd_.get(), KVM_GET_DIRTY_LOG, &log), "KVM_GET_DIRTY_LOG slot " + std::to_string(slot));
  return bitmap;
}

}  // namespace snapfaas::runner
