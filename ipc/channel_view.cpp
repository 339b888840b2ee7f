// ChannelView: header validation and bounds-checked slot access for a channel region.
#include "ipc/channel_view.h"

#include <cstring>

namespace snapfaas::ipc {

Result<ChannelView> ChannelView::format(std::uint8_t* base, std::size_t size, std::uint32_t slot_size,
                                        std::uint32_t slot_count) noexcept {
  if (!channel_params_valid(slot_size, slot_count)) return IpcError::kBadHeader;
  const ChannelLayout l = compute_channel_layout(slot_size, slot_count);
  if (size < l.total_size) return IpcError::kRegionTooSmall;
  const ChannelHeader h = make_channel_header(l);
  std::memcpy(base, &h, sizeof h);
  return ChannelView(base, l);
}

Result<ChannelView> ChannelView::attach(std::uint8_t* base, std::size_t size) noexcept {
  if (base == nullptr || size < kPageSize) return IpcError::kRegionTooSmall;
  // One copy of the header; the peer may rewrite the shared one at any time, we never re-read it.
  ChannelHeader h;
  std::memcpy(&h, base, sizeof h);
  if (h.magic != kChannelMagic) return IpcError::kBadMagic;
  if (h.version != kChannelVersion) return IpcError::kBadVersion;
  if (h.header_size != sizeof(ChannelHeader) || !channel_params_valid(h.slot_size, h.slot_count)) {
    return IpcError::kBadHeader;
  }
  const ChannelLayout l = compute_channel_layout(h.slot_size, h.slot_count);
  if (h.ring_capacity != l.ring_capacity || h.control_capacity != l.control_capacity ||
      h.control_offset != l.control_offset || h.control_reply_offset != l.control_reply_offset ||
      h.request_offset != l.request_offset || h.response_offset != l.response_offset ||
      h.slots_offset != l.slots_offset || h.total_size != l.total_size) {
    return IpcError::kLayoutMismatch;
  }
  if (size < l.total_size) return IpcError::kRegionTooSmall;
  return ChannelView(base, l);
}

RingSection ChannelView::ring_at(std::uint64_t offset, std::uint32_t capacity) const noexcept {
  // offset comes from the validated layout: page-aligned, inside the mapping, followed by
  // kRingEntriesOffset + capacity entries within the same section.
  return ring_section_at(base_ + offset, capacity);
}

RingSection ChannelView::control_ring() const noexcept {
  return ring_at(layout_.control_offset, layout_.control_capacity);
}
RingSection ChannelView::control_reply_ring() const noexcept {
  return ring_at(layout_.control_reply_offset, layout_.control_capacity);
}
RingSection ChannelView::request_ring() const noexcept { return ring_at(layout_.request_offset, layout_.ring_capacity); }
RingSection ChannelView::response_ring() const noexcept {
  return ring_at(layout_.response_offset, layout_.ring_capacity);
}

DoorbellWord* ChannelView::runner_doorbell() const noexcept {
  // SAFETY: fixed, 64-byte-aligned offset inside the header page of a validated region.
  return reinterpret_cast<DoorbellWord*>(base_ + kRunnerDoorbellOffset);
}
DoorbellWord* ChannelView::supervisor_doorbell() const noexcept {
  // SAFETY: as runner_doorbell().
  return reinterpret_cast<DoorbellWord*>(base_ + kSupervisorDoorbellOffset);
}

Result<std::span<std::uint8_t>> ChannelView::slot(std::uint32_t index) const noexcept {
  if (index >= layout_.slot_count) return IpcError::kSlotOutOfRange;
  return std::span<std::uint8_t>(base_ + layout_.slots_offset + std::uint64_t{index} * layout_.slot_size,
                                 layout_.slot_size);
}

Result<std::span<std::uint8_t>> ChannelView::payload(std::uint32_t index, std::uint32_t length) const noexcept {
  if (index >= layout_.slot_count) return IpcError::kSlotOutOfRange;
  if (length > layout_.slot_size) return IpcError::kLengthOutOfRange;
  return std::span<std::uint8_t>(base_ + layout_.slots_offset + std::uint64_t{index} * layout_.slot_size, length);
}

}  // namespace snapfaas::ipc
