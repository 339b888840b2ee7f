// Window: the agent's mapping of its runner's ring window (layout in ipc/guest_abi.h) and the one
// checked accessor of what it holds. In the guest the window is mapped from /dev/mem at kWindowGpa;
// host tests map a channel region from /dev/shm and compose the same view from two mappings.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "ipc/channel_layout.h"
#include "ipc/guest_abi.h"
#include "ipc/ring.h"

namespace snapfaas::guest {

/// Where the window comes from.
struct WindowSource {
  std::string path = "/dev/mem";            ///< file to map
  std::uint64_t offset = ipc::kWindowGpa;   ///< file offset of the window (page-aligned)
  /// false: the file holds the window contiguously (guest /dev/mem). true: the file holds a whole
  /// channel region at `offset` (host tests): map its header page, then [request_offset, total)
  /// right after it, so the agent sees exactly what a guest sees (never the control rings).
  bool channel_region = false;
  /// Map the header page writable (host futex doorbells write DoorbellWord); the guest maps it
  /// read-only, the runner's memslot for it is read-only too.
  bool writable_header = false;
};

/// Owns the mapping (munmap on destruction). Move-only; single-threaded use.
class Window {
 public:
  /// Maps and validates. Throws AgentFailure (kWindowMap, kWindowHeader) naming the step.
  [[nodiscard]] static Window map(const WindowSource& source);

  Window(Window&& other) noexcept;
  Window& operator=(Window&& other) = delete;
  Window(const Window&) = delete;
  Window& operator=(const Window&) = delete;
  ~Window();

  /// The header the window shows now (a restored guest's: the new channel's, at the same
  /// guest-physical address) describes the layout this window was mapped with: the mapping serves
  /// it as it is. False when it differs or fails validation: map anew (map() says why).
  [[nodiscard]] bool same_layout() const noexcept;

  /// Private copy of the validated layout (later header writes have no effect on it).
  [[nodiscard]] const ipc::WindowLayout& layout() const noexcept { return layout_; }
  [[nodiscard]] std::uint32_t slot_size() const noexcept { return layout_.channel.slot_size; }
  [[nodiscard]] std::uint32_t slot_count() const noexcept { return layout_.channel.slot_count; }

  [[nodiscard]] ipc::RingSection request_ring() const noexcept;
  [[nodiscard]] ipc::RingSection response_ring() const noexcept;
  [[nodiscard]] ipc::DoorbellWord* runner_doorbell() const noexcept;
  /// The header page (read-only in the guest): ChannelHeader, doorbells, RestoreRecord.
  [[nodiscard]] const std::uint8_t* header_page() const noexcept { return base_; }
  [[nodiscard]] ipc::DoorbellWord* supervisor_doorbell() const noexcept;

  /// The whole slot `index`, or an empty span when index >= slot_count.
  [[nodiscard]] std::span<std::uint8_t> slot(std::uint32_t index) const noexcept;

 private:
  Window(std::uint8_t* base, std::uint64_t size, const ipc::WindowLayout& layout) noexcept
      : base_(base), size_(size), layout_(layout) {}

  std::uint8_t* base_ = nullptr;
  std::uint64_t size_ = 0;
  ipc::WindowLayout layout_{};
};

}  // namespace snapfaas::guest
