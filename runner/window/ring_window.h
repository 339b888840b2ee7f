// RingWindow: the guest's view of its runner's ipc channel (ipc/guest_abi.h). The channel shm is
// mapped twice into one reserved host range — the header page, then [request_offset, total) right
// after it — and registered as two KVM memslots at kWindowGpa (header page read-only when KVM
// accepts KVM_MEM_READONLY). The control rings are never mapped into the guest.
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

/// Owns the host mapping of one window (through a GuestMemory holding the single window region,
/// so every host-side access by GPA is bounds-checked). Setup throws common::Error.
class RingWindow {
 public:
  /// Maps `layout`'s window from channel shm `shm_fd` and registers both memslots on `vm`.
  /// `try_readonly`: register the header page with KVM_MEM_READONLY, falling back to read-write
  /// (logged) if KVM refuses it. Throws when the window exceeds kWindowMaxSize.
  [[nodiscard]] static RingWindow map(int shm_fd, const ipc::ChannelLayout& layout, KvmVm& vm,
                                      bool try_readonly = true);

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
