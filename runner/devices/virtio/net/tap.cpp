// Tap: /dev/net/tun setup (TUNSETIFF, TUNSETVNETHDRSZ, TUNSETOFFLOAD) and frame I/O.
#include "runner/devices/virtio/net/tap.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/error.h"

namespace snapfaas::runner::virtio::net {

Tap::Tap(const std::string& name) : name_(name) {
  const std::string what = "tap " + name;
  if (name.empty() || name.size() >= IFNAMSIZ) throw common::Error(what + ": name empty or longer than 15 bytes");
  fd_.reset(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd_) throw common::sys_error("open /dev/net/tun for " + what);
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  common::check_sys(::ioctl(fd_.get(), TUNSETIFF, &ifr), "TUNSETIFF " + what);
  int hdr_len = static_cast<int>(kVnetHdrLen);
  common::check_sys(::ioctl(fd_.get(), TUNSETVNETHDRSZ, &hdr_len), "TUNSETVNETHDRSZ " + what);
  common::check_sys(::ioctl(fd_.get(), TUNSETOFFLOAD, 0UL), "TUNSETOFFLOAD " + what);
}

long Tap::read_frame(std::span<std::uint8_t> buf) const noexcept {
  for (;;) {
    const ssize_t n = ::read(fd_.get(), buf.data(), buf.size());
    if (n >= 0) return n;
    if (errno != EINTR) return -errno;
  }
}

long Tap::write_frame(std::span<const iovec> iov) const noexcept {
  for (;;) {
    const ssize_t n = ::writev(fd_.get(), iov.data(), static_cast<int>(iov.size()));
    if (n >= 0) return n;
    if (errno != EINTR) return -errno;
  }
}

}  // namespace snapfaas::runner::virtio::net
