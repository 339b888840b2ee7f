// Frame transfer: tx header validation and gather, rx scatter with capacity checks.
#include "runner/devices/virtio/net/frame.h"

#include <algorithm>
#include <array>

#include "runner/devices/virtio/net/tap.h"

namespace snapfaas::runner::virtio::net {
namespace {

std::uint16_t le16(const std::array<std::uint8_t, kVnetHdrLen>& raw, std::size_t at) noexcept {
  return static_cast<std::uint16_t>(raw[at] | (raw[at + 1] << 8));
}

bool negotiated_bit(std::uint64_t negotiated, unsigned bit) noexcept { return ((negotiated >> bit) & 1) != 0; }

}  // namespace

VnetHeader decode_header(const std::array<std::uint8_t, kVnetHdrLen>& raw) noexcept {
  return VnetHeader{raw[0], raw[1], le16(raw, 2), le16(raw, 4), le16(raw, 6), le16(raw, 8), le16(raw, 10)};
}

std::string_view to_string(HeaderError e) noexcept {
  switch (e) {
    case HeaderError::kNone: return "ok";
    case HeaderError::kBadFlags: return "flags other than NEEDS_CSUM";
    case HeaderError::kCsumNotNegotiated: return "NEEDS_CSUM without VIRTIO_NET_F_CSUM";
    case HeaderError::kCsumOutOfFrame: return "checksum field beyond the packet";
    case HeaderError::kBadGsoType: return "gso_type not TCPV4/TCPV6";
    case HeaderError::kGsoNotNegotiated: return "gso_type without its HOST_TSO feature";
    case HeaderError::kGsoWithoutCsum: return "GSO without a TCP partial checksum";
    case HeaderError::kGsoZeroSize: return "gso_size 0";
    case HeaderError::kGsoHdrLenOutOfFrame: return "hdr_len beyond the packet";
    case HeaderError::kTooLong: return "packet longer than the maximum";
  }
  return "unknown";
}

HeaderError validate_tx_header(const VnetHeader& h, std::uint64_t negotiated, std::uint32_t packet_len) noexcept {
  if (packet_len > kMaxFrameLen - kVnetHdrLen) return HeaderError::kTooLong;
  if (h.flags != 0 && h.flags != kHdrFNeedsCsum) return HeaderError::kBadFlags;
  const bool csum = h.flags == kHdrFNeedsCsum;
  if (csum) {
    if (!negotiated_bit(negotiated, kFeatureCsum)) return HeaderError::kCsumNotNegotiated;
    // 32-bit sum of 16-bit fields: cannot overflow.
    if (std::uint32_t{h.csum_start} + h.csum_offset + 2 > packet_len) return HeaderError::kCsumOutOfFrame;
  }
  if (h.gso_type == kGsoNone) return HeaderError::kNone;
  if (h.gso_type != kGsoTcpV4 && h.gso_type != kGsoTcpV6) return HeaderError::kBadGsoType;
  if (!negotiated_bit(negotiated, h.gso_type == kGsoTcpV4 ? kFeatureHostTso4 : kFeatureHostTso6)) {
    return HeaderError::kGsoNotNegotiated;
  }
  // TSO depends on CSUM (§5.1.3.1): the host fills each segment's TCP checksum at csum_offset.
  if (!csum || h.csum_offset != kTcpCsumOffset) return HeaderError::kGsoWithoutCsum;
  if (h.gso_size == 0) return HeaderError::kGsoZeroSize;
  if (h.hdr_len > packet_len) return HeaderError::kGsoHdrLenOutOfFrame;
  return HeaderError::kNone;
}

std::string_view to_string(FrameError e) noexcept {
  switch (e) {
    case FrameError::kNone: return "ok";
    case FrameError::kWrongDirection: return "buffer with the wrong direction";
    case FrameError::kTooShort: return "chain too short";
    case FrameError::kTooLong: return "frame longer than the maximum";
    case FrameError::kBadAddress: return "buffer outside guest memory";
    case FrameError::kBadHeader: return "virtio-net header refused";
  }
  return "unknown";
}

FrameError gather_tx(const GuestMemory& mem, const DescriptorChain& chain, std::uint64_t negotiated,
                     std::vector<iovec>& iov, TxFrame& frame) noexcept {
  iov.clear();
  frame.len = 0;
  frame.header_error = HeaderError::kNone;
  std::uint64_t total = 0;
  for (const Buffer& b : chain.buffers) {
    if (b.device_writable) return FrameError::kWrongDirection;
    total += b.len;
  }
  if (total < kVnetHdrLen) return FrameError::kTooShort;
  if (total > kMaxFrameLen) return FrameError::kTooLong;
  // The header is copied (it may span descriptors), then validated on the copy only.
  std::size_t copied = 0;
  for (const Buffer& b : chain.buffers) {
    if (copied == kVnetHdrLen) break;
    const std::size_t n = std::min<std::size_t>(b.len, kVnetHdrLen - copied);
    if (!mem.read(b.gpa, std::span(frame.header.data() + copied, n))) return FrameError::kBadAddress;
    copied += n;
  }
  frame.header_error =
      validate_tx_header(decode_header(frame.header), negotiated, static_cast<std::uint32_t>(total - kVnetHdrLen));
  if (frame.header_error != HeaderError::kNone) return FrameError::kBadHeader;
  iov.push_back(iovec{frame.header.data(), frame.header.size()});
  std::uint64_t skip = kVnetHdrLen;
  for (const Buffer& b : chain.buffers) {
    const std::uint64_t drop = std::min<std::uint64_t>(skip, b.len);
    skip -= drop;
    if (drop == b.len) continue;
    const auto s = mem.slice(b.gpa + drop, b.len - drop);
    if (!s) return FrameError::kBadAddress;
    iov.push_back(iovec{s->data(), s->size()});
  }
  frame.len = static_cast<std::uint32_t>(total);
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
