// Frame transfer between checked descriptor chains and the tap: tx chains are gathered into an
// iovec list (zero copy), received frames are scattered into rx chains. Pure functions of guest
// memory and a chain, so the malicious-descriptor cases are tested without a tap.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "runner/devices/virtio/queue.h"
#include "runner/memory/guest_memory.h"

namespace snapfaas::runner::virtio::net {

/// Largest frame (virtio-net header included) either direction accepts: a 64 KiB IP packet in
/// an Ethernet frame. Without offloads the guest never sends more than MTU + 14.
inline constexpr std::uint32_t kMaxFrameLen = 12 + 14 + 65535;

/// Why a chain cannot carry a frame. The chain is returned to the guest with length 0.
enum class FrameError : std::uint8_t {
  kNone,
  kWrongDirection,  ///< tx chain with a device-writable buffer, or rx chain with a readable one
  kTooShort,        ///< tx: shorter than the virtio-net header; rx: the frame does not fit
  kTooLong,         ///< tx: longer than kMaxFrameLen
  kBadAddress,      ///< a buffer left guest memory (cannot happen after Queue::pop's checks)
};
[[nodiscard]] std::string_view to_string(FrameError e) noexcept;

/// Builds the iovec list for writing one tx chain to the tap: a zeroed virtio-net header (no
/// offloads are negotiated, so the guest's header is never passed to the host kernel) followed
/// by the chain's bytes after its first kVnetHdrLen. `iov` is cleared and refilled; reserve
/// queue-size + 1 entries to keep this allocation-free. `frame_len` counts the header.
[[nodiscard]] FrameError gather_tx(const GuestMemory& mem, const DescriptorChain& chain, std::vector<iovec>& iov,
                                   std::uint32_t& frame_len) noexcept;

/// Copies `frame` (virtio-net header first) into the device-writable buffers of `chain`, in
/// order. On success `written` is frame.size(); on a direction or size error nothing is written.
[[nodiscard]] FrameError scatter_rx(const GuestMemory& mem, const DescriptorChain& chain,
                                    std::span<const std::uint8_t> frame, std::uint32_t& written) noexcept;

}  // namespace snapfaas::runner::virtio::net
