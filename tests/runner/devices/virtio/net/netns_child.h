// Test helpers for running a scenario in a forked child inside a fresh network namespace (taps
// and packet sockets there touch nothing on the host), a persistent tap, and a packet socket.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"
#include "common/unique_fd.h"

namespace snapfaas::runner::virtio::net::test {

#define NET_EXPECT(cond)                                                                                   \
  do {                                                                                                     \
    if (!(cond)) throw std::runtime_error(std::string(__FILE__ ":") + std::to_string(__LINE__) + ": " #cond); \
  } while (0)

/// doctest check that a scenario passed in a fresh network namespace (see in_netns).
#define CHECK_IN_NETNS(...)                                                                 \
  do {                                                                                      \
    const std::string netns_error = ::snapfaas::runner::virtio::net::test::in_netns(__VA_ARGS__); \
    CHECK_MESSAGE(netns_error.empty(), netns_error);                                        \
  } while (0)

/// Runs `body` in a forked child after unshare(CLONE_NEWNET). Returns "" when it completed, else
/// the exception text or how the child died. Root (or CAP_SYS_ADMIN + CAP_NET_ADMIN) is required.
inline std::string in_netns(const std::function<void()>& body) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return "pipe2 failed";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(p[0]);
    std::string err;
    try {
      if (::unshare(CLONE_NEWNET) != 0) throw common::sys_error("unshare(CLONE_NEWNET) (needs root)");
      body();
    } catch (const std::exception& e) {
      err = e.what();
      if (err.empty()) err = "exception";
    }
    (void)!::write(p[1], err.data(), err.size());
    ::_exit(0);
  }
  ::close(p[1]);
  std::string out;
  char buf[512];
  for (ssize_t n; (n = ::read(p[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  ::close(p[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) return "child killed by signal " + std::to_string(WTERMSIG(status)) + " " + out;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return "child failed " + out;
  return out;
}

/// Creates a persistent tap (as `ip tuntap add NAME mode tap` does), disables IPv6 on new links
/// of this namespace (no router solicitations in the way), and brings the tap up.
inline void make_persistent_tap(const std::string& name) {
  if (int f = ::open("/proc/sys/net/ipv6/conf/default/disable_ipv6", O_WRONLY | O_CLOEXEC); f >= 0) {
    (void)!::write(f, "1", 1);
    ::close(f);
  }
  common::UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
  if (!fd) throw common::sys_error("open /dev/net/tun");
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  common::check_sys(::ioctl(fd.get(), TUNSETIFF, &ifr), "TUNSETIFF");
  common::check_sys(::ioctl(fd.get(), TUNSETPERSIST, 1UL), "TUNSETPERSIST");
  common::UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  common::check_sys(::ioctl(s.get(), SIOCGIFFLAGS, &ifr), "SIOCGIFFLAGS");
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  common::check_sys(::ioctl(s.get(), SIOCSIFFLAGS, &ifr), "SIOCSIFFLAGS");
}

/// Local experimental EtherType: only our test frames carry it.
inline constexpr std::uint16_t kTestEtherType = 0x88b5;

/// An Ethernet frame: broadcast destination, `src`, kTestEtherType, payload derived from `seq`.
inline std::vector<std::uint8_t> make_frame(std::uint8_t seq, std::size_t len = 100) {
  std::vector<std::uint8_t> f(len);
  for (int i = 0; i < 6; ++i) f[static_cast<std::size_t>(i)] = 0xff;
  const std::uint8_t src[6] = {0x02, 0, 0, 0, 0, 0x01};
  std::memcpy(f.data() + 6, src, 6);
  f[12] = kTestEtherType >> 8;
  f[13] = kTestEtherType & 0xff;
  for (std::size_t i = 14; i < len; ++i) f[i] = static_cast<std::uint8_t>(seq + i * 3);
  return f;
}

/// AF_PACKET socket on the host side of the tap: send() puts a frame on the wire towards the
/// guest (out through the tap); recv() returns the next test frame the guest transmitted.
class PacketSocket {
 public:
  explicit PacketSocket(const std::string& ifname) : ifindex_(static_cast<int>(::if_nametoindex(ifname.c_str()))) {
    if (ifindex_ == 0) throw common::sys_error("if_nametoindex " + ifname);
    fd_.reset(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_ALL)));
    if (!fd_) throw common::sys_error("socket(AF_PACKET)");
    sockaddr_ll sa{};
    sa.sll_family = AF_PACKET;
    sa.sll_protocol = htons(ETH_P_ALL);
    sa.sll_ifindex = ifindex_;
    common::check_sys(::bind(fd_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), "bind AF_PACKET");
  }
  void send(const std::vector<std::uint8_t>& frame) const {
    sockaddr_ll sa{};
    sa.sll_family = AF_PACKET;
    sa.sll_ifindex = ifindex_;
    sa.sll_halen = 6;
    std::memcpy(sa.sll_addr, frame.data(), 6);
    common::check_sys(::sendto(fd_.get(), frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa),
                      "sendto AF_PACKET");
  }
  [[nodiscard]] std::optional<std::vector<std::uint8_t>> recv(int timeout_ms = 3000) const {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    std::vector<std::uint8_t> buf(70000);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_.get(), POLLIN, 0};
      (void)::poll(&p, 1, 50);
      sockaddr_ll from{};
      socklen_t fl = sizeof from;
      const ssize_t n = ::recvfrom(fd_.get(), buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &fl);
      if (n < 14 || from.sll_pkttype == PACKET_OUTGOING) continue;
      if (buf[12] != (kTestEtherType >> 8) || buf[13] != (kTestEtherType & 0xff)) continue;
      buf.resize(static_cast<std::size_t>(n));
      return buf;
    }
    return std::nullopt;
  }

 private:
  int ifindex_;
  common::UniqueFd fd_;
};

/// Polls `done` every millisecond for up to `timeout_ms`.
inline bool wait_for(const std::function<bool()>& done, int timeout_ms = 5000) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace snapfaas::runner::virtio::net::test
