// RingWindow: the guest's view of its runner's ipc channel (ipc/guest_abi.h). The channel shm is
// mapped twice into one reserved host range — the header page, then [request_offset, total) right
// after it — and registered as two KVM memslots at kWindowGpa, the header page KVM_MEM_READONLY:
// the guest must not forge what the runner and the supervisor read there. The control rings are
// never mapped into the guest.
#pragma once

#include <cstdint>

#include "ipc/channel_layout.h"
#include "ipc/guest_abi.h"
#include "runner/kvm/kvm_vm.h"
#include "runner/memory/guest_memory.h"

namespace snapfaas::runner::window {

/// Memslot ids used for the window (RAM uses the low ids).
inline constexpr std::uint32_t kWindowHeaderSlot = 32;
inline constexpr std::uint32_t kWindowRingsSlot = 33;

/// What to do when KVM refuses KVM_MEM_READONLY for the header page.
enum class HeaderPolicy {
  kReadOnly,           ///< refuse the window (common::Error naming --allow_writable_header)
  kWritableIfRefused,  ///< map the header read-write, with a warning (firerunner --allow_writable_header)
};

/// Owns the host mapping of one window (through a GuestMemory holding the single window region,
/// so every host-side access by GPA is bounds-checked). Setup throws common::Error.
class RingWindow {
 public:
  /// Maps `layout`'s window from channel shm `shm_fd` and registers both memslots on `vm`, the
  /// header page with KVM_MEM_READONLY; when KVM refuses that, `policy` decides. Throws
  /// common::Error when the window exceeds kWindowMaxSize or KVM refuses a memslot.
  [[nodiscard]] static RingWindow map(int shm_fd, const ipc::ChannelLayout& layout, KvmVm& vm,
                                      HeaderPolicy policy = HeaderPolicy::kReadOnly);

  [[nodiscard]] const ipc::WindowLayout& layout() const noexcept { return layout_; }
  /// The window as guest memory: one region [kWindowGpa, kWindowGpa + layout().size).
  [[nodiscard]] const GuestMemory& memory() const noexcept { return memory_; }
  /// True when the header page memslot is KVM_MEM_READONLY.
  [[nodiscard]] bool header_readonly() const noexcept { return header_readonly_; }

 private:
  RingWindow(ipc::WindowLayout layout, GuestMemory memory, bool header_readonly) noexcept
      : layout_(layout), memory_(std::move(memory)), header_readonly_(header_readonly) {}

  ipc::WindowLayout layout_{};
  GuestMemory memory_;
  bool header_readonly_ = false;
};

}  // namespace snapfaas::runner::window
