// Tap: one Linux tap interface opened through /dev/net/tun with IFF_TAP | IFF_NO_PI |
// IFF_VNET_HDR and a 12-byte virtio-net header (struct virtio_net_hdr_v1) on every frame.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <span>
#include <string>

#include "common/unique_fd.h"

namespace snapfaas::runner::virtio::net {

/// Length of the header the tap reads and writes in front of every frame (virtio 1.x §5.1.6:
/// with VIRTIO_F_VERSION_1 the header always includes num_buffers).
inline constexpr std::size_t kVnetHdrLen = 12;

/// Owns the tap fd (non-blocking, close-on-exec). The interface is attached in the calling
/// thread's network namespace: an existing (persistent) tap of that name, or a new one that
/// disappears with the fd. Receive offloads are off (TUNSETOFFLOAD 0): the kernel hands us
/// whole, checksummed frames. Frames we write may carry a partial checksum or TCP GSO in their
/// header (validated by validate_tx_header first): the kernel accepts those on any tap.
/// read_frame/write_frame may be called from different threads.
class Tap {
 public:
  /// Opens/attaches `name`. Throws common::Error naming the tap and errno (no /dev/net/tun,
  /// name too long, busy, not permitted).
  explicit Tap(const std::string& name);

  [[nodiscard]] int fd() const noexcept { return fd_.get(); }
  [[nodiscard]] const std::string& name() const noexcept { return name_; }

  /// Reads one frame (header included) into `buf`. Returns its length, or -errno (-EAGAIN when
  /// none is queued). A frame longer than `buf` is truncated by the kernel.
  [[nodiscard]] long read_frame(std::span<std::uint8_t> buf) const noexcept;
  /// Writes one frame (header included) gathered from `iov`. Returns bytes written or -errno.
  [[nodiscard]] long write_frame(std::span<const iovec> iov) const noexcept;

 private:
  common::UniqueFd fd_;
  std::string name_;
};

}  // namespace snapfaas::runner::virtio::net
