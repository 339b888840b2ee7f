// ChannelView: the one checked accessor of a channel region. It validates the header against the
// mapped size once (keeping a private copy of the layout, so later peer writes to the header have
// no effect) and bounds-checks every slot index and payload length read from the region.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "ipc/channel_layout.h"
#include "ipc/doorbell.h"
#include "ipc/ipc_error.h"
#include "ipc/ring.h"

namespace snapfaas::ipc {

/// Non-owning view of a mapped channel region. Copyable; thread-compatible (const accessors).
class ChannelView {
 public:
  ChannelView() noexcept = default;

  /// Writes a fresh header for (slot_size, slot_count) into a zero-filled mapping of `size` bytes.
  /// Errors: kBadHeader for invalid parameters, kRegionTooSmall when the layout does not fit.
  [[nodiscard]] static Result<ChannelView> format(std::uint8_t* base, std::size_t size, std::uint32_t slot_size,
                                                  std::uint32_t slot_count) noexcept;
  /// Validates the header in a mapping of `size` bytes written by someone else.
  [[nodiscard]] static Result<ChannelView> attach(std::uint8_t* base, std::size_t size) noexcept;

  [[nodiscard]] const ChannelLayout& layout() const noexcept { return layout_; }
  [[nodiscard]] std::uint8_t* base() const noexcept { return base_; }

  [[nodiscard]] RingSection control_ring() const noexcept;
  [[nodiscard]] RingSection control_reply_ring() const noexcept;
  [[nodiscard]] RingSection request_ring() const noexcept;
  [[nodiscard]] RingSection response_ring() const noexcept;
  [[nodiscard]] DoorbellWord* runner_doorbell() const noexcept;
  [[nodiscard]] DoorbellWord* supervisor_doorbell() const noexcept;

  /// The whole slot `index`; kSlotOutOfRange when index >= slot_count.
  [[nodiscard]] Result<std::span<std::uint8_t>> slot(std::uint32_t index) const noexcept;
  /// The first `length` bytes of slot `index`; kSlotOutOfRange / kLengthOutOfRange.
  [[nodiscard]] Result<std::span<std::uint8_t>> payload(std::uint32_t index, std::uint32_t length) const noexcept;

 private:
  ChannelView(std::uint8_t* base, const ChannelLayout& layout) noexcept : base_(base), layout_(layout) {}
  [[nodiscard]] RingSection ring_at(std::uint64_t offset, std::uint32_t capacity) const noexcept;

  std::uint8_t* base_ = nullptr;
  ChannelLayout layout_{};
};

}  // namespace snapfaas::ipc
