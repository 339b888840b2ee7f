// Command-line forms of guest networking: the device spec "TAP/MAC" (fc_wrapper/firerunner
// --network) and the guest address "ADDR/PREFIX,GATEWAY" turned into the kernel's ip= parameter
// (Documentation/admin-guide/nfs/nfsroot.rst, CONFIG_IP_PNP) that configures eth0 at boot.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "runner/devices/virtio/net/net.h"

namespace snapfaas::runner::virtio::net {

/// The address every runner's guest gets (one /30 per namespace: tap0 is 172.16.0.1, see
/// scripts/setup-network.sh). Clones restored from one snapshot all keep it.
inline constexpr std::string_view kDefaultGuestAddress = "172.16.0.2/30,172.16.0.1";
inline constexpr std::string_view kDefaultGuestMac = "06:00:ac:10:00:02";

/// Parses "TAP/MAC" (MAC optional: "TAP" alone gets kDefaultGuestMac). Throws common::Error
/// with the offending text.
[[nodiscard]] NetConfig parse_network_spec(std::string_view spec);

/// The guest's IPv4 configuration.
struct GuestAddress {
  std::uint32_t addr = 0;     ///< host byte order
  unsigned prefix = 0;        ///< 1..30
  std::uint32_t gateway = 0;  ///< 0: none
};
/// Parses "A.B.C.D/PREFIX[,GW]". Throws common::Error naming the text.
[[nodiscard]] GuestAddress parse_guest_address(std::string_view spec);
/// "ip=ADDR::GW:NETMASK::eth0:off" (no DHCP, no DNS: the guest talks to addresses).
[[nodiscard]] std::string ip_kernel_arg(const GuestAddress& a);

}  // namespace snapfaas::runner::virtio::net
