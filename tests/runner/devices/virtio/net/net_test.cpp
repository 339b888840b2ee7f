// Net: the virtio-net device through its transport on a real tap inside a private network
// namespace (forked child): tx to the tap (with checksum/TSO headers), rx from the tap,
// no-buffer back-pressure, pause, interrupt suppression, malicious and random chains,
// save → restore (also of a snapshot from before the transmit offloads).
#include "runner/devices/virtio/net/net.h"

#include <doctest/doctest.h>

#include <random>

#include "common/error.h"
#include "common/log_limit.h"
#include "tests/common/log_capture.h"
#include "tests/runner/devices/virtio/net/net_driver.h"
#include "tests/runner/devices/virtio/net/netns_child.h"

using namespace snapfaas::runner;
using namespace snapfaas::runner::virtio;
using namespace snapfaas::runner::virtio::net;
using namespace snapfaas::runner::virtio::net::test;
using virtio::test::read32;
using virtio::test::write32;

namespace {

const std::string kTap = "tap0";
constexpr MacAddress kMac{0x06, 0x00, 0xac, 0x10, 0x00, 0x02};
constexpr std::uint64_t kAll = ~0ull;
constexpr std::uint64_t kNoEventIdx = ~(1ull << kFeatureRingEventIdx);

// The frame the guest received in rx buffer `desc` (header stripped), checking the header.
std::vector<std::uint8_t> rx_frame(const Harness& h, std::uint32_t used_len, std::uint16_t desc) {
  NET_EXPECT(used_len > kVnetHdrLen);
  const auto hdr = h.d.bytes(NetDriver::kRxBufs + NetDriver::kRxBufLen * desc, kVnetHdrLen);
  std::vector<std::uint8_t> want(kVnetHdrLen, 0);
  want[10] = 1;  // num_buffers
  NET_EXPECT(hdr == want);
  return h.d.bytes(NetDriver::kRxBufs + NetDriver::kRxBufLen * desc + kVnetHdrLen, used_len - kVnetHdrLen);
}

bool needs_reset(Harness& h) { return (read32(*h.t, reg::kStatus) & kStatusDeviceNeedsReset) != 0; }

constexpr std::uint16_t kTcpPort = 40001;

// An Ethernet + IPv4 + TCP frame of `payload` bytes from 10.9.0.2 to 10.9.0.1:kTcpPort (IP
// header checksum filled; the TCP checksum left to the offload, as a guest with CSUM does).
std::vector<std::uint8_t> make_tcp_frame(std::size_t payload, std::uint8_t seq) {
  std::vector<std::uint8_t> f(14 + 20 + 20 + payload, 0);
  for (int i = 0; i < 6; ++i) f[static_cast<std::size_t>(i)] = 0xff;
  std::memcpy(f.data() + 6, kMac.data(), 6);
  f[12] = 0x08;  // IPv4
  std::uint8_t* ip = f.data() + 14;
  const std::size_t ip_len = 20 + 20 + payload;
  ip[0] = 0x45;
  ip[2] = static_cast<std::uint8_t>(ip_len >> 8);
  ip[3] = static_cast<std::uint8_t>(ip_len & 0xff);
  ip[6] = 0x40;  // DF
  ip[8] = 64;
  ip[9] = 6;  // TCP
  const std::uint8_t addrs[8] = {10, 9, 0, 2, 10, 9, 0, 1};
  std::memcpy(ip + 12, addrs, 8);
  std::uint32_t sum = 0;
  for (int i = 0; i < 20; i += 2) sum += static_cast<std::uint32_t>(ip[i] << 8 | ip[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  ip[10] = static_cast<std::uint8_t>(~sum >> 8);
  ip[11] = static_cast<std::uint8_t>(~sum & 0xff);
  std::uint8_t* tcp = ip + 20;
  tcp[0] = 0x9c;  // source port 40000
  tcp[1] = 0x40;
  tcp[2] = kTcpPort >> 8;
  tcp[3] = kTcpPort & 0xff;
  tcp[7] = seq;
  tcp[12] = 0x50;  // data offset 5 words
  tcp[13] = 0x18;  // PSH, ACK
  tcp[14] = 0xff;  // window
  for (std::size_t i = 0; i < payload; ++i) tcp[20 + i] = static_cast<std::uint8_t>(seq + i);
  return f;
}

// The header a Linux guest puts on a TSO'd IPv4 TCP frame.
VnetHeader tso4_header(std::uint16_t mss) {
  VnetHeader h;
  h.flags = kHdrFNeedsCsum;
  h.gso_type = kGsoTcpV4;
  h.hdr_len = 14 + 20 + 20;
  h.gso_size = mss;
  h.csum_start = 14 + 20;
  h.csum_offset = kTcpCsumOffset;
  return h;
}

// AF_PACKET socket with PACKET_VNET_HDR on the tap: every frame comes with the virtio_net_hdr
// (10 bytes) the kernel derives from its skb, so a frame written as one GSO frame shows as one
// frame with its gso_type and gso_size.
class VnetPacketSocket {
 public:
  struct Frame {
    VnetHeader hdr;
    std::vector<std::uint8_t> bytes;
  };
  explicit VnetPacketSocket(const std::string& ifname) {
    fd_.reset(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_IP)));
    if (!fd_) throw snapfaas::common::sys_error("socket(AF_PACKET)");
    int one = 1;
    snapfaas::common::check_sys(::setsockopt(fd_.get(), SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one),
                                "PACKET_VNET_HDR");
    sockaddr_ll sa{};
    sa.sll_family = AF_PACKET;
    sa.sll_protocol = htons(ETH_P_IP);
    sa.sll_ifindex = static_cast<int>(::if_nametoindex(ifname.c_str()));
    snapfaas::common::check_sys(::bind(fd_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), "bind AF_PACKET");
  }
  // The next TCP frame to kTcpPort, or nothing within `timeout_ms`.
  [[nodiscard]] std::optional<Frame> recv(int timeout_ms) const {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    std::vector<std::uint8_t> buf(0x20000);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_.get(), POLLIN, 0};
      (void)::poll(&p, 1, 20);
      const ssize_t n = ::recv(fd_.get(), buf.data(), buf.size(), 0);
      if (n < 10 + 14 + 20 + 20) continue;
      const std::uint8_t* f = buf.data() + 10;
      if (f[14 + 9] != 6 || f[14 + 20 + 2] != (kTcpPort >> 8) || f[14 + 20 + 3] != (kTcpPort & 0xff)) continue;
      std::array<std::uint8_t, kVnetHdrLen> raw{};
      std::memcpy(raw.data(), buf.data(), 10);
      Frame out{decode_header(raw), std::vector<std::uint8_t>(f, f + (n - 10))};
      return out;
    }
    return std::nullopt;
  }

 private:
  snapfaas::common::UniqueFd fd_;
};

}  // namespace

TEST_CASE("Tap refuses bad names") {
  CHECK_THROWS_AS(Tap(""), snapfaas::common::Error);
  CHECK_THROWS_AS(Tap("a-very-long-tap-name"), snapfaas::common::Error);
}

TEST_CASE("Net offers MAC, VERSION_1, EVENT_IDX, CSUM and HOST_TSO4/6, no receive offload, and shows the MAC") {
  CHECK_IN_NETNS([] {
          make_persistent_tap(kTap);
          Harness h(kTap, kMac, kAll);
          NET_EXPECT(h.offered == kNetFeatures);
          NET_EXPECT(h.offered & (1ull << kFeatureMac));
          NET_EXPECT(h.offered & (1ull << kFeatureVersion1));
          NET_EXPECT(h.offered & (1ull << kFeatureRingEventIdx));
          NET_EXPECT(h.offered & (1ull << kFeatureCsum));
          NET_EXPECT(h.offered & (1ull << kFeatureHostTso4));
          NET_EXPECT(h.offered & (1ull << kFeatureHostTso6));
          // GUEST_CSUM (1), GUEST_TSO4/6 (7, 8), GUEST_ECN (9), GUEST_UFO (10), HOST_ECN (13),
          // HOST_UFO (14), MRG_RXBUF (15): none.
          for (const unsigned bit : {1u, 7u, 8u, 9u, 10u, 13u, 14u, 15u}) NET_EXPECT(((h.offered >> bit) & 1) == 0);
          NET_EXPECT(read32(*h.t, reg::kDeviceId) == kDeviceTypeNet);
          NET_EXPECT(h.t->activated());
          std::array<std::uint8_t, 6> mac{};
          h.t->read(reg::kConfig, mac);
          NET_EXPECT(mac == kMac);
          NET_EXPECT(h.net->tap_name() == kTap);
        });
}

TEST_CASE("Net transmits guest frames to the tap and drops those with a refused header") {
  CHECK_IN_NETNS([] {
          make_persistent_tap(kTap);
          Harness h(kTap, kMac, kAll);
          PacketSocket host(kTap);
          for (std::uint8_t i = 0; i < 5; ++i) {
            const auto f = make_frame(i, 60 + 200 * i);
            h.send(f);
            const auto got = host.recv();
            NET_EXPECT(got.has_value());
            NET_EXPECT(*got == f);
          }
          NET_EXPECT(h.d.used_idx(h.d.tx) == 5);
          NET_EXPECT(h.d.used(h.d.tx, 4).len == 0);
          NET_EXPECT(h.net->counters().tx_frames.load() == 5);
          NET_EXPECT(h.irq->get() >= 1);
          // An all-ones header (flags 0xff, gso_type 0xff): dropped, counted, the buffer returned.
          h.send(make_frame(7), 0xff);
          NET_EXPECT(h.d.used_idx(h.d.tx) == 6);
          NET_EXPECT(h.d.used(h.d.tx, 5).len == 0);
          NET_EXPECT(!host.recv(200).has_value());
          NET_EXPECT(h.net->counters().tx_bad_header.load() == 1);
          NET_EXPECT(h.net->counters().tx_dropped.load() == 1);
          NET_EXPECT(h.net->counters().tx_frames.load() == 5);
          NET_EXPECT(!needs_reset(h));
        });
}

TEST_CASE("Net passes a valid TSO frame to the tap as one frame with its header and drops invalid ones") {
  CHECK_IN_NETNS([] {
          make_persistent_tap(kTap);
          Harness h(kTap, kMac, kAll);
          VnetPacketSocket host(kTap);
          const auto f = make_tcp_frame(20000, 1);
          h.send(encode(tso4_header(1448)), f);
          const auto got = host.recv(3000);
          NET_EXPECT(got.has_value());
          NET_EXPECT(got->bytes == f);  // one frame, unsegmented
          NET_EXPECT(got->hdr.gso_type == kGsoTcpV4);
          NET_EXPECT(got->hdr.gso_size == 1448);
          NET_EXPECT(got->hdr.flags == kHdrFNeedsCsum);
          NET_EXPECT(got->hdr.csum_start == 14 + 20);
          NET_EXPECT(got->hdr.csum_offset == kTcpCsumOffset);
          NET_EXPECT(h.net->counters().tx_frames.load() == 1);
          // Refused: gso_size 0, csum field past the end, hdr_len past the end, UDP GSO, ECN.
          VnetHeader bad[5] = {tso4_header(0), tso4_header(1448), tso4_header(1448), tso4_header(1448),
                               tso4_header(1448)};
          bad[1].csum_start = static_cast<std::uint16_t>(f.size() - 17);
          bad[2].hdr_len = static_cast<std::uint16_t>(f.size() + 1);
          bad[3].gso_type = 3;
          bad[4].gso_type = kGsoTcpV4 | 0x80;
          for (const VnetHeader& b : bad) h.send(encode(b), f);
          NET_EXPECT(h.d.used_idx(h.d.tx) == 6);
          for (std::uint16_t i = 1; i < 6; ++i) NET_EXPECT(h.d.used(h.d.tx, i).len == 0);
          NET_EXPECT(!host.recv(300).has_value());
          NET_EXPECT(h.net->counters().tx_bad_header.load() == 5);
          NET_EXPECT(h.net->counters().tx_frames.load() == 1);
          NET_EXPECT(!needs_reset(h));
          // Still working: a plain frame with a partial checksum.
          VnetHeader csum = tso4_header(0);
          csum.gso_type = kGsoNone;
          csum.hdr_len = 0;
          const auto small = make_tcp_frame(100, 2);
          h.send(encode(csum), small);
          const auto got2 = host.recv(3000);
          NET_EXPECT(got2.has_value() && got2->bytes == small && got2->hdr.gso_type == kGsoNone);
        });
}

TEST_CASE("Net drops TSO and checksum headers when the driver did not negotiate them") {
  CHECK_IN_NETNS([] {
          make_persistent_tap(kTap);
          Harness h(kTap, kMac, kAll & ~(1ull << kFeatureHostTso4));
          VnetPacketSocket host(kTap);
          NET_EXPECT(((h.negotiated >> kFeatureHostTso4) & 1) == 0);
          const auto f = make_tcp_frame(5000, 3);
          h.send(encode(tso4_header(1448)), f);
          NET_EXPECT(h.d.used_idx(h.d.tx) == 1);
          NET_EXPECT(!host.recv(300).has_value());
          NET_EXPECT(h.net->counters().tx_bad_header.load() == 1);
          // Nothing negotiated beyond the basics: a partial checksum is refused too.
          make_persistent_tap(kTap + "b");
          Harness plain(kTap + "b", kMac, kNetFeaturesNoOffload);
          VnetHeader csum = tso4_header(0);
          csum.gso_type = kGsoNone;
          plain.send(encode(csum), make_tcp_frame(100, 4));
          NET_EXPECT(plain.d.used_idx(plain.d.tx) == 1);
          NET_EXPECT(plain.net->counters().tx_bad_header.load() == 1);
          plain.send(make_frame(5));
          NET_EXPECT(plain.net->counters().tx_frames.load() == 1);
        });
}

TEST_CASE("Net receives tap frames into posted buffers, in order") {
  CHECK_IN_NETNS([] {
          make_persistent_tap(kTap);
          Harness h(kTap, kMac, kAll);
          PacketSocket host(kTap);
          h.post_rx(8);
          for (std::uint8_t i = 0; i < 3; ++i) host.send(make_frame(i, 64 + 500 * i));
          NET_EXPECT(wait_for([&] { return h.d.used_idx(h.d.rx) == 3; }));
          for (std::uint16_t i = 0; i < 3; ++i) {
            const UsedElem u = h.d.used(h.d.rx, i);
            NET_EXPECT(u.id == i);
            NET_EXPECT(rx_frame(h, u.len, i) == make_frame(static_cast<std::uint8_t>(i), 64 + 500 * i));
          }
          NET_EXPECT(h.net->counters().rx_frames.load() == 3);
          NET_EXPECT(h.irq->get() >= 1);
        });
}

TEST_CASE("Net holds frames while the guest has no receive buffers and delivers them once posted") {
  CHECK_IN_NETNS([] {
          make_persistent_tap(kTap);
          Harness h(kTap, kMac, kAll);
          PacketSocket host(kTap);
          for (std::uint8_t i = 0; i < 3; ++i) host.send(make_frame(i));
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
          NET_EXPECT(h.d.used_idx(h.d.rx) == 0);
          NET_EXPECT(h.net->counters().rx_frames.load() == 0);
          h.post_rx(2);  // two buffers: two frames; the third waits
          NET_EXPECT(wait_for([&] { return h.d.used_idx(h.d.rx) == 2; }));
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
          NET_EXPECT(h.d.used_idx(h.d.rx) == 2);
          h.post_rx(2);
          NET_EXPECT(wait_for([&] { return h.d.used_idx(h.d.rx) == 3; }));
          for (std::uint16_t i = 0; i < 3; ++i) {
            NET_EXPECT(rx_frame(h, h.d.used(h.d.rx, i).len, i) == make_frame(static_cast<std::uint8_t>(i)));
          }
          NET_EXPECT(h.net->counters().rx_dropped.load() == 0);
        });
}

TEST_CASE("Net pause stops receive writes into guest memory until resume") {
  CHECK_IN_NETNS([] {
          make_persistent_tap(kTap);
          Harness h(kTap, kMac, kAll);
          PacketSocket host(kTap);
          h.post_rx(4);
          const auto before = h.d.bytes(NetDriver::kRxBufs, 4 * NetDriver::kRxBufLen);
          h.net->pause();
          host.send(make_frame(7));
          host.send(make_frame(8));
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
          NET_EXPECT(h.d.used_idx(h.d.rx) == 0);
          NET_EXPECT(h.d.bytes(NetDriver::kRxBufs, 4 * NetDriver::kRxBufLen) == before);
          h.net->resume();
          NET_EXPECT(wait_for([&] { return h.d.used_idx(h.d.rx) == 2; }));
          NET_EXPECT(rx_frame(h, h.d.used(h.d.rx, 1).len, 1) == make_frame(8));
        });
}

TEST_CASE("Net suppresses interrupts the driver does not want") {
  SUBCASE("VIRTQ_AVAIL_F_NO_INTERRUPT without EVENT_IDX") {
    CHECK_IN_NETNS([] {
            make_persistent_tap(kTap);
            Harness h(kTap, kMac, kNoEventIdx);
            NET_EXPECT((h.negotiated & (1ull << kFeatureRingEventIdx)) == 0);
            PacketSocket host(kTap);
            h.post_rx(12);
            h.d.set_avail_flags(h.d.rx, 1);
            const int irqs = h.irq->get();
            for (std::uint8_t i = 0; i < 6; ++i) host.send(make_frame(i));
            NET_EXPECT(wait_for([&] { return h.d.used_idx(h.d.rx) == 6; }));
            NET_EXPECT(h.irq->get() == irqs);
            h.d.set_avail_flags(h.d.rx, 0);
            host.send(make_frame(6));
            NET_EXPECT(wait_for([&] { return h.d.used_idx(h.d.rx) == 7; }));
            NET_EXPECT(wait_for([&] { return h.irq->get() == irqs + 1; }));
          });
  }
  SUBCASE("used_event with EVENT_IDX") {
    CHECK_IN_NETNS([] {
            make_persistent_tap(kTap);
            Harness h(kTap, kMac, kAll);
            NET_EXPECT((h.negotiated & (1ull << kFeatureRingEventIdx)) != 0);
            PacketSocket host(kTap);
            h.post_rx(12);
            host.send(make_frame(100));  // the first batch after activation always interrupts
            NET_EXPECT(wait_for([&] { return h.d.used_idx(h.d.rx) == 1; }));
            NET_EXPECT(wait_for([&] { return h.irq->get() >= 1; }));
            h.d.set_used_event(h.d.rx, 1000);  // far ahead: no interrupt wanted
            const int irqs = h.irq->get();
            for (std::uint8_t i = 0; i < 5; ++i) host.send(make_frame(i));
            NET_EXPECT(wait_for([&] { return h.d.used_idx(h.d.rx) == 6; }));
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            NET_EXPECT(h.irq->get() == irqs);
            h.d.set_used_event(h.d.rx, 6);  // interrupt when used idx passes 6
            host.send(make_frame(5));
            NET_EXPECT(wait_for([&] { return h.d.used_idx(h.d.rx) == 7; }));
            NET_EXPECT(wait_for([&] { return h.irq->get() == irqs + 1; }));
          });
  }
}

TEST_CASE("Net drops malicious chains and keeps working") {
  CHECK_IN_NETNS([] {
          make_persistent_tap(kTap);
          Harness h(kTap, kMac, kAll);
          PacketSocket host(kTap);
          constexpr std::uint64_t kBuf = NetDriver::kTxBufs;
          // tx: a device-writable buffer, a chain shorter than the header, a descriptor loop.
          h.d.set_desc(h.d.tx, 0, kBuf, 100, kDescFWrite);
          h.d.publish(h.d.tx, 0);
          h.d.set_desc(h.d.tx, 1, kBuf, 4);
          h.d.publish(h.d.tx, 1);
          h.d.set_desc(h.d.tx, 2, kBuf, 100, kDescFNext, 3);
          h.d.set_desc(h.d.tx, 3, kBuf, 100, kDescFNext, 2);
          h.d.publish(h.d.tx, 2);
          h.d.set_desc(h.d.tx, 4, NetDriver::kMemSize - 8, 100);  // leaves guest memory
          h.d.publish(h.d.tx, 4);
          write32(*h.t, reg::kQueueNotify, 1);
          NET_EXPECT(h.d.used_idx(h.d.tx) == 4);
          for (std::uint16_t i = 0; i < 4; ++i) NET_EXPECT(h.d.used(h.d.tx, i).len == 0);
          NET_EXPECT(h.net->counters().tx_dropped.load() == 4);
          NET_EXPECT(h.net->counters().tx_frames.load() == 0);
          NET_EXPECT(!needs_reset(h));
          // rx: a device-readable buffer and one too small for the frame; then a good one.
          h.d.set_desc(h.d.rx, 0, NetDriver::kRxBufs, 2048);
          h.d.publish(h.d.rx, 0);
          h.d.set_desc(h.d.rx, 1, NetDriver::kRxBufs + 2048, 20, kDescFWrite);
          h.d.publish(h.d.rx, 1);
          h.d.set_desc(h.d.rx, 2, NetDriver::kRxBufs + 4096, 2048, kDescFWrite);
          h.d.publish(h.d.rx, 2);
          write32(*h.t, reg::kQueueNotify, 0);
          for (std::uint8_t i = 0; i < 3; ++i) host.send(make_frame(i));
          NET_EXPECT(wait_for([&] { return h.d.used_idx(h.d.rx) == 3; }));
          NET_EXPECT(h.d.used(h.d.rx, 0).len == 0);
          NET_EXPECT(h.d.used(h.d.rx, 1).len == 0);
          NET_EXPECT(h.d.used(h.d.rx, 2).len == kVnetHdrLen + 100);
          NET_EXPECT(h.net->counters().rx_dropped.load() == 2);
          NET_EXPECT(!needs_reset(h));
          // Well-formed traffic still flows both ways.
          h.tx_next = 5;
          h.send(make_frame(9));
          const auto got = host.recv();
          NET_EXPECT(got.has_value() && *got == make_frame(9));
          // An avail idx jump breaks the queue: the device asks for a reset.
          h.d.set_avail_idx(h.d.tx, static_cast<std::uint16_t>(h.d.tx.avail_idx + 100));
          write32(*h.t, reg::kQueueNotify, 1);
          NET_EXPECT(needs_reset(h));
        });
}

TEST_CASE("Net: a guest repeating bad transmit chains gets a burst of log lines, not one per chain") {
  CHECK_IN_NETNS([] {
          make_persistent_tap(kTap);
          Harness h(kTap, kMac, kAll);
          snapfaas::test::LogCapture capture;
          constexpr std::uint64_t kBuf = NetDriver::kTxBufs;
          for (int i = 0; i < 5'000; ++i) {
            const auto d = static_cast<std::uint16_t>(i % 8);
            h.d.set_desc(h.d.tx, d, kBuf, 100, kDescFWrite);  // device-writable: a bad transmit chain
            h.d.publish(h.d.tx, d);
            write32(*h.t, reg::kQueueNotify, 1);
          }
          NET_EXPECT(h.net->counters().tx_dropped.load() == 5'000);
          NET_EXPECT(capture.lines_with("virtio-net") >= 1);
          NET_EXPECT(capture.lines_with("virtio-net") <= snapfaas::common::LogLimit::kBurst + 2);
        });
}

TEST_CASE("Net survives random descriptor tables on both queues") {
  CHECK_IN_NETNS([] {
          make_persistent_tap(kTap);
          std::mt19937_64 rng(0xbeef);
          PacketSocket host(kTap);
          int resets = 0;
          for (int round = 0; round < 40; ++round) {
            Harness h(kTap, kMac, round % 2 ? kAll : kNoEventIdx);
            for (Ring* r : {&h.d.rx, &h.d.tx}) {
              for (std::uint16_t i = 0; i < r->size; ++i) {
                const std::uint64_t addr = rng() % 4 == 0 ? rng() : rng() % (NetDriver::kMemSize + 0x1000);
                const auto len = static_cast<std::uint32_t>(rng() % 3 == 0 ? rng() : rng() % 0x1000);
                h.d.set_desc(*r, i, addr, len, static_cast<std::uint16_t>(rng() & 7),
                             static_cast<std::uint16_t>(rng() % 5 == 0 ? rng() : rng() % r->size));
                (void)h.d.mem.write_obj<std::uint16_t>(r->avail + 4 + 2ull * i, static_cast<std::uint16_t>(rng() % 20));
              }
              h.d.set_avail_idx(*r, static_cast<std::uint16_t>(rng() % 20));
            }
            write32(*h.t, reg::kQueueNotify, 1);
            write32(*h.t, reg::kQueueNotify, 0);
            for (std::uint8_t i = 0; i < 4; ++i) host.send(make_frame(i, 60 + 400 * i));
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
            for (Ring* r : {&h.d.rx, &h.d.tx}) {
              const std::uint16_t n = h.d.used_idx(*r);
              NET_EXPECT(n <= r->avail_idx || n <= 20);
              for (std::uint16_t i = 0; i < n && i < r->size; ++i) NET_EXPECT(h.d.used(*r, i).id < r->size);
            }
            resets += needs_reset(h) ? 1 : 0;
          }
          NET_EXPECT(resets > 0);  // the garbage did hit the fatal paths, and nothing crashed
        });
}

TEST_CASE("Net save → restore reattaches the tap and continues the queues") {
  CHECK_IN_NETNS([] {
          make_persistent_tap(kTap);
          Harness h(kTap, kMac, kAll);
          PacketSocket host(kTap);
          h.post_rx(4);
          host.send(make_frame(1));
          NET_EXPECT(wait_for([&] { return h.d.used_idx(h.d.rx) == 1; }));
          h.send(make_frame(2));
          NET_EXPECT(host.recv().has_value());

          h.net->pause();
          const MmioState ms = h.t->save();
          const NetState ns = h.net->save();
          NET_EXPECT(ns.tap_name == kTap);
          NET_EXPECT(ns.mac == kMac);
          NET_EXPECT(ns.features == h.offered);
          h.t.reset();  // closes the tap (persistent: it stays)

          NetState bad = ns;
          bad.features ^= 1ull << kFeatureMac;
          bool threw = false;
          try {
            (void)Net::restore(bad, Tap(kTap));
          } catch (const snapfaas::common::Error&) {
            threw = true;
          }
          NET_EXPECT(threw);
          {
            // A snapshot from before the transmit offloads: the device offers what that guest saw.
            NetState old = ns;
            old.features = kNetFeaturesNoOffload;
            const auto o = Net::restore(old, Tap(kTap));
            NET_EXPECT(o->features() == kNetFeaturesNoOffload);
            NET_EXPECT(o->save() == old);
          }
          auto n = Net::restore(ns, Tap(kTap));
          n->start_rx({});
          h.net = n.get();
          h.t = MmioTransport::restore(h.d.mem, std::move(n), h.irq, ms);
          NET_EXPECT(h.t->activated());
          NET_EXPECT(h.net->save() == ns);
          host.send(make_frame(3));
          NET_EXPECT(wait_for([&] { return h.d.used_idx(h.d.rx) == 2; }));
          NET_EXPECT(rx_frame(h, h.d.used(h.d.rx, 1).len, 1) == make_frame(3));
          h.send(make_frame(4));
          const auto got = host.recv();
          NET_EXPECT(got.has_value() && *got == make_frame(4));
          NET_EXPECT(h.d.used_idx(h.d.tx) == 2);
        });
}

TEST_CASE("Net hands its tap over to a restored device (one fd per tap)") {
  CHECK_IN_NETNS([] {
    make_persistent_tap(kTap);
    {
      Harness active(kTap, kMac, kAll);
      bool threw = false;
      try {
        (void)active.net->detach_tap();
      } catch (const snapfaas::common::Error&) {
        threw = true;
      }
      NET_EXPECT(threw);  // an active device keeps its tap
    }
    auto built = std::make_unique<Net>(NetConfig{kTap, MacAddress{0x06, 0, 0, 0, 0, 0x99}});
    bool busy = false;
    try {
      Net second(NetConfig{kTap, kMac});
    } catch (const snapfaas::common::Error& e) {
      busy = std::string(e.what()).find("TUNSETIFF") != std::string::npos;
    }
    NET_EXPECT(busy);  // why restore must reuse the fd
    NetState saved{kTap, kMac, built->features()};
    auto restored = Net::restore(saved, built->detach_tap());
    built.reset();
    NET_EXPECT(restored->mac() == kMac);
    NET_EXPECT(restored->tap_name() == kTap);
    // The restored device works on the handed-over tap.
    NetDriver d;
    auto irq = std::make_shared<snapfaas::runner::test::CountingInterrupt>();
    Net* net = restored.get();
    net->start_rx({});
    MmioTransport t(d.mem, std::move(restored), irq);
    NET_EXPECT((virtio::test::negotiate(t, net->features()) & kStatusFeaturesOk) != 0);
    virtio::test::setup_queue(t, 0, d.rx.size, d.rx.desc, d.rx.avail, d.rx.used);
    virtio::test::setup_queue(t, 1, d.tx.size, d.tx.desc, d.tx.avail, d.tx.used);
    virtio::test::driver_ok(t);
    d.set_desc(d.rx, 0, NetDriver::kRxBufs, 2048, kDescFWrite);
    d.publish(d.rx, 0);
    write32(t, reg::kQueueNotify, 0);
    PacketSocket host(kTap);
    host.send(make_frame(42));
    NET_EXPECT(wait_for([&] { return d.used_idx(d.rx) == 1; }));
    NET_EXPECT(d.used(d.rx, 0).len == kVnetHdrLen + 100);
  });
}
