// NetDeviceState in the snapshot codec (runner/snapshot/microvm_state): round trip next to a disk,
// and a truncated net record gives a clear error.
#include <doctest/doctest.h>

#include <string>

#include "common/error.h"
#include "runner/snapshot/microvm_state.h"

using namespace snapfaas::runner;
using namespace snapfaas::runner::snapshot;

namespace {
MicrovmState with_net() {
  MicrovmState s;
  s.vcpu_count = 1;
  s.mem_bytes = 64ull << 20;
  s.regions = {{0, 64ull << 20}};
  s.vcpus.resize(1);
  BlockDeviceState b;
  b.mmio_base = 0xd0000000;
  b.irq = 5;
  b.transport.queues.resize(1);
  b.block.path = "/r.img";
  s.devices.blocks.push_back(b);
  NetDeviceState n;
  n.mmio_base = 0xd0002000;
  n.irq = 7;
  n.transport.acked_features = 0x1'2000'0020;
  n.transport.activated = true;
  n.transport.queues.resize(2);
  n.transport.queues[0].next_avail = 77;
  n.transport.queues[1].used_ring = 0x7000;
  n.net.tap_name = "tap0";
  n.net.mac = {0x06, 0x00, 0xac, 0x10, 0x00, 0x02};
  n.net.features = 0x1'3000'0020;
  s.devices.nets.push_back(n);
  return s;
}
}  // namespace

TEST_CASE("snapshot codec: virtio-net state round trip") {
  const MicrovmState s = with_net();
  const MicrovmState d = decode_state(encode_state(s));
  REQUIRE(d.devices.nets.size() == 1);
  CHECK(d.devices.nets[0].mmio_base == 0xd0002000);
  CHECK(d.devices.nets[0].irq == 7);
  CHECK(d.devices.nets[0].transport == s.devices.nets[0].transport);
  CHECK(d.devices.nets[0].net == s.devices.nets[0].net);
  REQUIRE(d.devices.blocks.size() == 1);
  CHECK(d.devices.blocks[0].block == s.devices.blocks[0].block);
  MicrovmState none = with_net();
  none.devices.nets.clear();
  CHECK(decode_state(encode_state(none)).devices.nets.empty());
}

TEST_CASE("snapshot codec: a truncated virtio-net record is refused") {
  auto bytes = encode_state(with_net());
  bytes.resize(bytes.size() - 3);  // inside the features field
  try {
    (void)decode_state(bytes);
    FAIL("decoded a truncated state");
  } catch (const snapfaas::common::Error& e) {
    CHECK(std::string(e.what()).find("net features") != std::string::npos);
  }
}
