// KvmVm: one KVM virtual machine (the VM fd) and its VM-wide ioctls.
#pragma once

#include <cstdint>
#include <vector>

#include "common/unique_fd.h"
#include "runner/kvm/kvm_system.h"

namespace snapfaas::runner {

/// Owns a VM fd. Setup methods throw common::Error naming the ioctl; not thread-safe during setup.
///
/// Order of operations matters for start-up time: on this PVM host registering a 128 MiB memslot
/// after KVM_CREATE_IRQCHIP costs ~7 ms, before it ~0.05 ms (ENVIRONMENT.md). Callers that want
/// an irqchip should still register RAM first and create the irqchip afterwards (KVM allows
/// both orders for memslots vs. irqchip; vCPUs must come after the irqchip).
class KvmVm {
 public:
  /// KVM_CREATE_VM (machine type 0).
  static KvmVm create(const KvmSystem& kvm);

  [[nodiscard]] int fd() const noexcept { return fd_.get(); }

  /// KVM_SET_TSS_ADDR: three pages of guest-physical space KVM uses on Intel for real mode.
  void set_tss_addr(std::uint64_t gpa);
  /// KVM_SET_IDENTITY_MAP_ADDR: one page for the EPT identity map (Intel).
  void set_identity_map_addr(std::uint64_t gpa);
  /// KVM_CREATE_IRQCHIP: in-kernel PIC, IOAPIC and per-vCPU LAPICs. Optional per VM; before vCPUs.
  void create_irqchip();
  /// KVM_CREATE_PIT2 (i8254). Requires the irqchip.
  void create_pit2();
  [[nodiscard]] bool has_irqchip() const noexcept { return irqchip_; }

  /// KVM_SET_USER_MEMORY_REGION. `flags` e.g. KVM_MEM_LOG_DIRTY_PAGES.
  void set_user_memory_region(std::uint32_t slot, std::uint64_t gpa, std::uint64_t size, void* host,
                              std::uint32_t flags = 0);
  /// KVM_IRQFD: each write to `eventfd` injects an edge on `gsi`.
  void register_irqfd(int eventfd, std::uint32_t gsi);
  /// KVM_IRQFD with KVM_IRQFD_FLAG_DEASSIGN.
  void unregister_irqfd(int eventfd, std::uint32_t gsi);
  /// KVM_IRQ_LINE: sets `gsi` to `level`.
  void set_irq_line(std::uint32_t gsi, bool level);
  /// KVM_GET_DIRTY_LOG for a slot registered with KVM_MEM_LOG_DIRTY_PAGES: one bit per 4 KiB page
  /// of `slot_size` bytes (and clears the log).
  [[nodiscard]] std::vector<std::uint64_t> dirty_log(std::uint32_t slot, std::uint64_t slot_size) const;

 private:
  explicit KvmVm(common::UniqueFd fd) noexcept : fd_(std::move(fd)) {}

  common::UniqueFd fd_;
  bool irqchip_ = false;
};

}  // namespace snapfaas::runner
