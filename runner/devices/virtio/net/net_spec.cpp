// Parsing of --network TAP/MAC and of the guest address; the ip= kernel parameter.
#include "runner/devices/virtio/net/net_spec.h"

#include <arpa/inet.h>

#include <charconv>

#include "common/error.h"

namespace snapfaas::runner::virtio::net {
namespace {

std::optional<std::uint32_t> parse_ipv4(std::string_view text) {
  in_addr a{};
  const std::string s(text);
  if (::inet_pton(AF_INET, s.c_str(), &a) != 1) return std::nullopt;
  return ntohl(a.s_addr);
}

std::string format_ipv4(std::uint32_t v) {
  in_addr a{htonl(v)};
  char buf[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

}  // namespace

NetConfig parse_network_spec(std::string_view spec) {
  const auto bad = [&](const char* why) { return common::Error("--network '" + std::string(spec) + "': " + why); };
  const std::size_t slash = spec.find('/');
  NetConfig c;
  c.tap_name = std::string(spec.substr(0, slash));
  if (c.tap_name.empty() || c.tap_name.size() > 15) throw bad("tap name must be 1..15 characters (TAP/MAC)");
  const std::string_view mac = slash == std::string_view::npos ? kDefaultGuestMac : spec.substr(slash + 1);
  const auto parsed = parse_mac(mac);
  if (!parsed) throw bad("MAC must be six hex pairs like 06:00:ac:10:00:02");
  if ((*parsed)[0] & 1) throw bad("MAC is a multicast address");
  c.mac = *parsed;
  return c;
}

GuestAddress parse_guest_address(std::string_view spec) {
  const auto bad = [&](const char* why) {
    return common::Error("guest address '" + std::string(spec) + "': " + why + " (ADDR/PREFIX[,GATEWAY])");
  };
  const std::size_t slash = spec.find('/');
  if (slash == std::string_view::npos) throw bad("no /PREFIX");
  const std::size_t comma = spec.find(',', slash);
  GuestAddress g;
  const auto addr = parse_ipv4(spec.substr(0, slash));
  if (!addr) throw bad("bad IPv4 address");
  g.addr = *addr;
  const std::string_view prefix = spec.substr(slash + 1, comma == std::string_view::npos ? std::string_view::npos
                                                                                         : comma - slash - 1);
  const auto [end, ec] = std::from_chars(prefix.data(), prefix.data() + prefix.size(), g.prefix);
  if (ec != std::errc{} || end != prefix.data() + prefix.size() || g.prefix < 1 || g.prefix > 30) {
    throw bad("prefix must be 1..30");
  }
  if (comma != std::string_view::npos) {
    const auto gw = parse_ipv4(spec.substr(comma + 1));
    if (!gw) throw bad("bad gateway address");
    const std::uint32_t mask = ~0u << (32 - g.prefix);
    if ((*gw & mask) != (g.addr & mask) || *gw == g.addr) throw bad("gateway not another address of the subnet");
    g.gateway = *gw;
  }
  return g;
}

std::string ip_kernel_arg(const GuestAddress& a) {
  const std::uint32_t mask = ~0u << (32 - a.prefix);
  return "ip=" + format_ipv4(a.addr) + "::" + (a.gateway ? format_ipv4(a.gateway) : "") + ":" + format_ipv4(mask) +
         "::eth0:off";
}

}  // namespace snapfaas::runner::virtio::net
