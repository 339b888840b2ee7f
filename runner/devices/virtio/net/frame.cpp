// Frame transfer: tx gather with a zeroed virtio-net header, rx scatter with capacity checks.
#include "runner/devices/virtio/net/frame.h"

#include <algorithm>
#include <array>

#include "runner/devices/virtio/net/tap.h"

namespace snapfaas::runner::virtio::net {
namespace {

// What the tap sees in front of every guest frame: no checksum offload, no GSO (§5.1.6.2).
constexpr std::array<std::uint8_t, kVnetHdrLen> kZeroHeader{};

}  // namespace

std::string_view to_string(FrameError e) noexcept {
  switch (e) {
    case FrameError::kNone: return "ok";
    case FrameError::kWrongDirection: return "buffer with the wrong direction";
    case FrameError::kTooShort: return "chain too short";
    case FrameError::kTooLong: return "frame longer than the maximum";
    case FrameError::kBadAddress: return "buffer outside guest memory";
  }
  return "unknown";
}

FrameError gather_tx(const GuestMemory& mem, const DescriptorChain& chain, std::vector<iovec>& iov,
                     std::uint32_t& frame_len) noexcept {
  iov.clear();
  frame_len = 0;
  std::uint64_t total = 0;
  for (const Buffer& b : chain.buffers) {
    if (b.device_writable) return FrameError::kWrongDirection;
    total += b.len;
  }
  if (total < kVnetHdrLen) return FrameError::kTooShort;
  if (total > kMaxFrameLen) return FrameError::kTooLong;
  // SAFETY (const_cast): iovec's base is non-const by definition; writev only reads it.
  iov.push_back(iovec{const_cast<std::uint8_t*>(kZeroHeader.data()), kZeroHeader.size()});
  std::uint64_t skip = kVnetHdrLen;
  for (const Buffer& b : chain.buffers) {
    const std::uint64_t drop = std::min<std::uint64_t>(skip, b.len);
    skip -= drop;
    if (drop == b.len) continue;
    const auto s = mem.slice(b.gpa + drop, b.len - drop);
    if (!s) return FrameError::kBadAddress;
    iov.push_back(iovec{s->data(), s->size()});
  }
  frame_len = static_cast<std::uint32_t>(total);
  return FrameError::kNone;
}

FrameError scatter_rx(const GuestMemory& mem, const DescriptorChain& chain, std::span<const std::uint8_t> frame,
                      std::uint32_t& written) noexcept {
  written = 0;
  std::uint64_t capacity = 0;
  for (const Buffer& b : chain.buffers) {
    if (!b.device_writable) return FrameError::kWrongDirection;
    capacity += b.len;
  }
  if (capacity < frame.size()) return FrameError::kTooShort;
  std::size_t done = 0;
  for (const Buffer& b : chain.buffers) {
    if (done == frame.size()) break;
    const std::size_t n = std::min<std::size_t>(b.len, frame.size() - done);
    if (!mem.write(b.gpa, frame.subspan(done, n))) return FrameError::kBadAddress;
    done += n;
  }
  written = static_cast<std::uint32_t>(done);
  return FrameError::kNone;
}

}  // namespace snapfaas::runner::virtio::net
