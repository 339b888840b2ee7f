// tap_probe: run inside a jail by test_supervisor_netns. Prints one line per check: the uid it runs
// as, and whether it can attach tap TAP in its network namespace the way firerunner does
// (/dev/net/tun, TUNSETIFF with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR). Exit 0 when the tap attached.
// Usage: tap_probe TAP
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
  if (argc != 2 || std::strlen(argv[1]) >= IFNAMSIZ) {
    std::fprintf(stderr, "usage: tap_probe TAP\n");
    return 2;
  }
  std::printf("uid %u\n", static_cast<unsigned>(::getuid()));
  const int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    std::printf("tap %s: open /dev/net/tun: %s\n", argv[1], std::strerror(errno));
    return 1;
  }
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, argv[1], std::strlen(argv[1]));
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  if (::ioctl(fd, TUNSETIFF, &ifr) != 0) {
    std::printf("tap %s: TUNSETIFF: %s\n", argv[1], std::strerror(errno));
    ::close(fd);
    return 1;
  }
  std::printf("tap %s: attached\n", argv[1]);
  ::close(fd);
  return 0;
}
