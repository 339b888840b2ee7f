// Frame transfer between checked descriptor chains and the tap: tx chains are gathered into an
// iovec list (zero copy after the header), their virtio-net header validated against the
// negotiated offloads; received frames are scattered into rx chains. Pure functions of guest
// memory and a chain, so the malicious-descriptor and malicious-header cases are tested without
// a tap.
#pragma once

#include <sys/uio.h>

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "runner/devices/virtio/net/tap.h"
#include "runner/devices/virtio/queue.h"
#include "runner/memory/guest_memory.h"

namespace snapfaas::runner::virtio::net {

/// Largest frame (virtio-net header included) either direction accepts: a 64 KiB IP packet in
/// an Ethernet frame (a TSO frame; without GSO the guest never sends more than MTU + 14).
inline constexpr std::uint32_t kMaxFrameLen = 12 + 14 + 65535;

/// Transmit offload feature bits (§5.1.3). HOST_TSO4/6 depend on CSUM (§5.1.3.1). No GUEST_*
/// (receive) offloads and no HOST_ECN/HOST_UFO are offered.
inline constexpr unsigned kFeatureCsum = 0;      // VIRTIO_NET_F_CSUM
inline constexpr unsigned kFeatureHostTso4 = 11;  // VIRTIO_NET_F_HOST_TSO4
inline constexpr unsigned kFeatureHostTso6 = 12;  // VIRTIO_NET_F_HOST_TSO6

/// struct virtio_net_hdr_v1 (§5.1.6), little-endian fields decoded.
struct VnetHeader {
  std::uint8_t flags = 0;
  std::uint8_t gso_type = 0;
  std::uint16_t hdr_len = 0;
  std::uint16_t gso_size = 0;
  std::uint16_t csum_start = 0;
  std::uint16_t csum_offset = 0;
  std::uint16_t num_buffers = 0;
};
inline constexpr std::uint8_t kHdrFNeedsCsum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM
inline constexpr std::uint8_t kGsoNone = 0;        // VIRTIO_NET_HDR_GSO_NONE
inline constexpr std::uint8_t kGsoTcpV4 = 1;       // VIRTIO_NET_HDR_GSO_TCPV4
inline constexpr std::uint8_t kGsoTcpV6 = 4;       // VIRTIO_NET_HDR_GSO_TCPV6
/// offsetof(struct tcphdr, check): the only csum_offset a TCP GSO frame may carry.
inline constexpr std::uint16_t kTcpCsumOffset = 16;

[[nodiscard]] VnetHeader decode_header(const std::array<std::uint8_t, kVnetHdrLen>& raw) noexcept;

/// Why a transmitted frame's header is refused (the frame is dropped, the chain returned).
enum class HeaderError : std::uint8_t {
  kNone,
  kBadFlags,             ///< flags other than 0 or NEEDS_CSUM
  kCsumNotNegotiated,    ///< NEEDS_CSUM without VIRTIO_NET_F_CSUM
  kCsumOutOfFrame,       ///< csum_start + csum_offset + 2 beyond the packet
  kBadGsoType,           ///< gso_type other than NONE, TCPV4, TCPV6 (ECN, UDP: not offered)
  kGsoNotNegotiated,     ///< TCPV4/TCPV6 without the matching HOST_TSO feature
  kGsoWithoutCsum,       ///< GSO frame without NEEDS_CSUM, or TCP csum_offset other than 16
  kGsoZeroSize,          ///< gso_size 0
  kGsoHdrLenOutOfFrame,  ///< hdr_len beyond the packet
  kTooLong,              ///< packet longer than kMaxFrameLen - kVnetHdrLen
};
[[nodiscard]] std::string_view to_string(HeaderError e) noexcept;

/// The one check of a guest's transmit header before it reaches the host kernel. `negotiated`:
/// the features the driver acked; `packet_len`: the frame's bytes after the virtio-net header.
/// num_buffers is ignored on transmit (§5.1.6.2); csum_start/csum_offset only count with
/// NEEDS_CSUM. Pure.
[[nodiscard]] HeaderError validate_tx_header(const VnetHeader& h, std::uint64_t negotiated,
                                             std::uint32_t packet_len) noexcept;

/// Why a chain cannot carry a frame. The chain is returned to the guest with length 0.
enum class FrameError : std::uint8_t {
  kNone,
  kWrongDirection,  ///< tx chain with a device-writable buffer, or rx chain with a readable one
  kTooShort,        ///< tx: shorter than the virtio-net header; rx: the frame does not fit
  kTooLong,         ///< tx: longer than kMaxFrameLen
  kBadAddress,      ///< a buffer left guest memory (cannot happen after Queue::pop's checks)
  kBadHeader,       ///< tx: validate_tx_header refused the guest's header (see TxFrame)
};
[[nodiscard]] std::string_view to_string(FrameError e) noexcept;

/// One gathered tx frame: the guest's header copied out of guest memory (so the guest cannot
/// change it between validation and the tap write; iov[0] points here) and the frame length.
struct TxFrame {
  std::array<std::uint8_t, kVnetHdrLen> header{};
  std::uint32_t len = 0;                          ///< header included
  HeaderError header_error = HeaderError::kNone;  ///< set with FrameError::kBadHeader
};

/// Builds the iovec list for writing one tx chain to the tap: the guest's virtio-net header,
/// copied into `frame.header` and validated by validate_tx_header against `negotiated`,
/// followed by the chain's bytes after its first kVnetHdrLen. `iov` is cleared and refilled;
/// reserve queue-size + 1 entries to keep this allocation-free. `frame` must outlive the write.
[[nodiscard]] FrameError gather_tx(const GuestMemory& mem, const DescriptorChain& chain, std::uint64_t negotiated,
                                   std::vector<iovec>& iov, TxFrame& frame) noexcept;

/// Copies `frame` (virtio-net header first) into the device-writable buffers of `chain`, in
/// order. On success `written` is frame.size(); on a direction or size error nothing is written.
[[nodiscard]] FrameError scatter_rx(const GuestMemory& mem, const DescriptorChain& chain,
                                    std::span<const std::uint8_t> frame, std::uint32_t& written) noexcept;

}  // namespace snapfaas::runner::virtio::net
