// RingWindow: double mapping of the channel shm into one host range and the two window memslots.
#include "runner/window/ring_window.h"

#include <linux/kvm.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>

#include <string>
#include <utility>

#include "common/error.h"
#include "runner/memory/mmap_region.h"

namespace snapfaas::runner::window {

RingWindow RingWindow::map(int shm_fd, const ipc::ChannelLayout& layout, KvmVm& vm, HeaderPolicy policy) {
  const ipc::WindowLayout wl = ipc::compute_window_layout(layout);
  if (wl.size > ipc::kWindowMaxSize) {
    throw common::Error("ring window: " + std::to_string(wl.size) + " bytes exceed the " +
                        std::to_string(ipc::kWindowMaxSize) + "-byte window (channel too large)");
  }
  // Reserve the whole host range first, then map the two channel ranges over it (MAP_FIXED), so
  // the window is one contiguous host span and its teardown is one munmap (MmapRegion).
  void* base = ::mmap(nullptr, wl.size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) throw common::sys_error("ring window: reserve host range");
  MmapRegion region = MmapRegion::adopt(base, wl.size);
  auto* bytes = static_cast<std::uint8_t*>(base);
  if (::mmap(bytes, ipc::kPageSize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, shm_fd, 0) == MAP_FAILED) {
    throw common::sys_error("ring window: map channel header page");
  }
  const std::uint64_t rings_bytes = wl.size - ipc::kWindowRingsOffset;
  if (::mmap(bytes + ipc::kWindowRingsOffset, rings_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, shm_fd,
             static_cast<off_t>(layout.request_offset)) == MAP_FAILED) {
    throw common::sys_error("ring window: map channel rings and slots");
  }

  bool readonly = false;
  try {
    vm.set_user_memory_region(kWindowHeaderSlot, ipc::kWindowGpa, ipc::kPageSize, bytes, KVM_MEM_READONLY);
    readonly = true;
  } catch (const common::Error& e) {
    if (policy == HeaderPolicy::kReadOnly) {
      throw common::Error(std::string("ring window: KVM refused a read-only memslot for the channel header page (") +
                          e.what() + "): refusing to map it writable into the guest (--allow_writable_header "
                                     "allows it, debugging only)");
    }
    spdlog::warn("ring window: KVM refused a read-only header memslot ({}); mapping it read-write as "
                 "--allow_writable_header asks: the guest can write its channel header",
                 e.what());
  }
  if (!readonly) vm.set_user_memory_region(kWindowHeaderSlot, ipc::kWindowGpa, ipc::kPageSize, bytes);
  vm.set_user_memory_region(kWindowRingsSlot, ipc::kWindowGpa + ipc::kWindowRingsOffset, rings_bytes,
                            bytes + ipc::kWindowRingsOffset);

  GuestMemory memory;
  memory.add_region(ipc::kWindowGpa, std::move(region));
  spdlog::debug("ring window: {} bytes at GPA {:#x} (header page {})", wl.size, ipc::kWindowGpa,
                readonly ? "read-only" : "read-write");
  return RingWindow(wl, std::move(memory), readonly);
}

}  // namespace snapfaas::runner::window
