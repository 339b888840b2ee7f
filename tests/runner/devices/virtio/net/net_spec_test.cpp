// --network TAP/MAC and guest address parsing; the ip= kernel argument.
#include "runner/devices/virtio/net/net_spec.h"

#include <doctest/doctest.h>

#include "common/error.h"

using namespace snapfaas::runner::virtio::net;

TEST_CASE("--network TAP/MAC parses, MAC defaults, bad specs are refused") {
  const NetConfig c = parse_network_spec("tap0/AA:FC:00:00:00:01");
  CHECK(c.tap_name == "tap0");
  CHECK(c.mac == MacAddress{0xaa, 0xfc, 0, 0, 0, 1});
  CHECK(format_mac(parse_network_spec("tap7").mac) == kDefaultGuestMac);
  CHECK_THROWS_AS((void)parse_network_spec("/06:00:ac:10:00:02"), snapfaas::common::Error);
  CHECK_THROWS_AS((void)parse_network_spec("tap0/06:00:ac:10:00"), snapfaas::common::Error);
  CHECK_THROWS_AS((void)parse_network_spec("tap0/01:00:5e:00:00:01"), snapfaas::common::Error);  // multicast
  CHECK_THROWS_AS((void)parse_network_spec("a-name-of-16-chr/06:00:ac:10:00:02"), snapfaas::common::Error);
}

TEST_CASE("guest address → ip= kernel argument") {
  CHECK(ip_kernel_arg(parse_guest_address(kDefaultGuestAddress)) == "ip=172.16.0.2::172.16.0.1:255.255.255.252::eth0:off");
  CHECK(ip_kernel_arg(parse_guest_address("10.1.2.3/24")) == "ip=10.1.2.3:::255.255.255.0::eth0:off");
  CHECK_THROWS_AS((void)parse_guest_address("10.1.2.3"), snapfaas::common::Error);
  CHECK_THROWS_AS((void)parse_guest_address("10.1.2.300/24"), snapfaas::common::Error);
  CHECK_THROWS_AS((void)parse_guest_address("10.1.2.3/31"), snapfaas::common::Error);
  CHECK_THROWS_AS((void)parse_guest_address("10.1.2.3/24,10.1.3.1"), snapfaas::common::Error);  // other subnet
  CHECK_THROWS_AS((void)parse_guest_address("10.1.2.3/24,10.1.2.3"), snapfaas::common::Error);
  CHECK_THROWS_AS((void)parse_guest_address("10.1.2.3/2x"), snapfaas::common::Error);
}
