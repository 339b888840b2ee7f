// virtio-net frame transfer: tx gather and rx scatter on well-formed, malformed and random
// descriptor chains (no tap needed), and MAC address parsing.
#include "runner/devices/virtio/net/frame.h"

#include <doctest/doctest.h>

#include <random>

#include "runner/devices/virtio/net/mac_address.h"
#include "runner/devices/virtio/net/tap.h"
#include "tests/runner/devices/virtio/net/net_driver.h"

using namespace snapfaas::runner;
using namespace snapfaas::runner::virtio;
using namespace snapfaas::runner::virtio::net;
using namespace snapfaas::runner::virtio::net::test;

namespace {

constexpr std::uint64_t kBuf = 0x40000;

DescriptorChain pop_one(NetDriver& d, Queue& q) {
  DescriptorChain c;
  REQUIRE(q.pop(d.mem, c) == PopStatus::kOk);
  return c;
}

std::vector<std::uint8_t> flatten(std::span<const iovec> iov) {
  std::vector<std::uint8_t> out;
  for (const iovec& v : iov) {
    const auto* p = static_cast<const std::uint8_t*>(v.iov_base);
    out.insert(out.end(), p, p + v.iov_len);
  }
  return out;
}

}  // namespace

TEST_CASE("MAC addresses parse and format") {
  const auto mac = parse_mac("02:FC:00:0a:Bb:05");
  REQUIRE(mac.has_value());
  CHECK(*mac == MacAddress{0x02, 0xfc, 0x00, 0x0a, 0xbb, 0x05});
  CHECK(format_mac(*mac) == "02:fc:00:0a:bb:05");
  CHECK_FALSE(parse_mac("02:fc:00:0a:bb").has_value());
  CHECK_FALSE(parse_mac("02:fc:00:0a:bb:0g").has_value());
  CHECK_FALSE(parse_mac("02-fc-00-0a-bb-05").has_value());
  CHECK_FALSE(parse_mac("02:fc:00:0a:bb:055").has_value());
}

TEST_CASE("gather_tx replaces the guest's header and skips it across descriptors") {
  NetDriver d;
  std::vector<std::uint8_t> frame(100);
  for (std::size_t i = 0; i < frame.size(); ++i) frame[i] = static_cast<std::uint8_t>(i * 7);
  // Header 0xff-filled (claims GSO/checksum offload) split 5 + 7, then the frame in two pieces.
  REQUIRE(d.mem.write(kBuf, std::vector<std::uint8_t>(kVnetHdrLen, 0xff)));
  REQUIRE(d.mem.write(kBuf + kVnetHdrLen, frame));
  d.set_desc(d.tx, 0, kBuf, 5, kDescFNext, 1);
  d.set_desc(d.tx, 1, kBuf + 5, 7 + 30, kDescFNext, 2);
  d.set_desc(d.tx, 2, kBuf + kVnetHdrLen + 30, 70);
  d.publish(d.tx, 0);
  Queue q = d.make_queue(d.tx);
  const DescriptorChain c = pop_one(d, q);
  std::vector<iovec> iov;
  std::uint32_t len = 0;
  REQUIRE(gather_tx(d.mem, c, iov, len) == FrameError::kNone);
  CHECK(len == kVnetHdrLen + 100);
  const auto out = flatten(iov);
  REQUIRE(out.size() == kVnetHdrLen + 100);
  CHECK(std::vector<std::uint8_t>(out.begin(), out.begin() + kVnetHdrLen) == std::vector<std::uint8_t>(kVnetHdrLen, 0));
  CHECK(std::vector<std::uint8_t>(out.begin() + kVnetHdrLen, out.end()) == frame);
  CHECK(iov.size() == 3);  // zero header, 30 bytes of descriptor 1, descriptor 2 (descriptor 0 skipped)
}

TEST_CASE("gather_tx refuses writable, short and overlong chains") {
  NetDriver d;
  Queue q = d.make_queue(d.tx);
  std::vector<iovec> iov;
  std::uint32_t len = 99;
  d.set_desc(d.tx, 0, kBuf, 60, kDescFNext, 1);
  d.set_desc(d.tx, 1, kBuf + 60, 60, kDescFWrite);
  d.publish(d.tx, 0);
  CHECK(gather_tx(d.mem, pop_one(d, q), iov, len) == FrameError::kWrongDirection);
  CHECK(len == 0);
  d.set_desc(d.tx, 2, kBuf, kVnetHdrLen - 1);
  d.publish(d.tx, 2);
  CHECK(gather_tx(d.mem, pop_one(d, q), iov, len) == FrameError::kTooShort);
  d.set_desc(d.tx, 3, kBuf, kMaxFrameLen, kDescFNext, 4);
  d.set_desc(d.tx, 4, kBuf, 1);
  d.publish(d.tx, 3);
  CHECK(gather_tx(d.mem, pop_one(d, q), iov, len) == FrameError::kTooLong);
  CHECK(iov.empty());
  d.set_desc(d.tx, 5, kBuf, kMaxFrameLen);  // exactly the maximum is fine
  d.publish(d.tx, 5);
  CHECK(gather_tx(d.mem, pop_one(d, q), iov, len) == FrameError::kNone);
  CHECK(len == kMaxFrameLen);
}

TEST_CASE("scatter_rx fills writable buffers in order and refuses what does not fit") {
  NetDriver d;
  Queue q = d.make_queue(d.rx);
  std::vector<std::uint8_t> frame(300);
  for (std::size_t i = 0; i < frame.size(); ++i) frame[i] = static_cast<std::uint8_t>(i ^ 0x5a);
  d.set_desc(d.rx, 0, kBuf, 200, kDescFWrite | kDescFNext, 1);
  d.set_desc(d.rx, 1, kBuf + 0x1000, 200, kDescFWrite);
  d.publish(d.rx, 0);
  std::uint32_t written = 0;
  REQUIRE(scatter_rx(d.mem, pop_one(d, q), frame, written) == FrameError::kNone);
  CHECK(written == 300);
  CHECK(d.bytes(kBuf, 200) == std::vector<std::uint8_t>(frame.begin(), frame.begin() + 200));
  CHECK(d.bytes(kBuf + 0x1000, 100) == std::vector<std::uint8_t>(frame.begin() + 200, frame.end()));

  REQUIRE(d.mem.write(kBuf + 0x2000, std::vector<std::uint8_t>(299, 0xee)));
  d.set_desc(d.rx, 2, kBuf + 0x2000, 299, kDescFWrite);  // one byte short
  d.publish(d.rx, 2);
  CHECK(scatter_rx(d.mem, pop_one(d, q), frame, written) == FrameError::kTooShort);
  CHECK(written == 0);
  CHECK(d.bytes(kBuf + 0x2000, 299) == std::vector<std::uint8_t>(299, 0xee));  // untouched

  d.set_desc(d.rx, 3, kBuf + 0x3000, 400);  // device-readable receive buffer
  d.publish(d.rx, 3);
  CHECK(scatter_rx(d.mem, pop_one(d, q), frame, written) == FrameError::kWrongDirection);
}

TEST_CASE("frame transfer survives random descriptor tables") {
  // Deterministic garbage through Queue::pop then gather_tx / scatter_rx: every outcome is a
  // status, every accepted transfer stays inside guest memory.
  NetDriver d;
  std::mt19937_64 rng(0xfeed);
  std::vector<std::uint8_t> frame(1514 + kVnetHdrLen, 0x42);
  std::vector<iovec> iov;
  int accepted = 0;
  int refused = 0;
  for (int round = 0; round < 400; ++round) {
    Ring& r = round % 2 ? d.rx : d.tx;
    Queue q = d.make_queue(r, round % 3 ? (1ull << kFeatureRingIndirectDesc) : 0);
    for (std::uint16_t i = 0; i < r.size; ++i) {
      const std::uint64_t addr = rng() % 4 == 0 ? rng() : rng() % (NetDriver::kMemSize + 0x1000);
      const auto len = static_cast<std::uint32_t>(rng() % 3 == 0 ? rng() : rng() % 0x1000);
      d.set_desc(r, i, addr, len, static_cast<std::uint16_t>(rng() & 7),
                 static_cast<std::uint16_t>(rng() % 5 == 0 ? rng() : rng() % r.size));
      (void)d.mem.write_obj<std::uint16_t>(r.avail + 4 + 2ull * i, static_cast<std::uint16_t>(rng() % 20));
    }
    d.set_avail_idx(r, static_cast<std::uint16_t>(rng() % 20));
    DescriptorChain c;
    for (int n = 0; n < 20; ++n) {
      const PopStatus s = q.pop(d.mem, c);
      if (s == PopStatus::kEmpty || s == PopStatus::kAvailIdxJump) break;
      if (s != PopStatus::kOk) {
        ++refused;
        continue;
      }
      std::uint32_t len = 0;
      const FrameError e = &r == &d.tx ? gather_tx(d.mem, c, iov, len) : scatter_rx(d.mem, c, frame, len);
      if (e != FrameError::kNone) {
        ++refused;
        CHECK(len == 0);
        continue;
      }
      ++accepted;
      if (&r == &d.tx) {
        for (std::size_t k = 1; k < iov.size(); ++k) {
          bool inside = false;
          for (const auto& reg : d.mem.regions()) {
            const auto* base = reg.mapping.data();
            const auto* p = static_cast<const std::uint8_t*>(iov[k].iov_base);
            inside |= p >= base && p + iov[k].iov_len <= base + reg.mapping.size();
          }
          CHECK(inside);
        }
      } else {
        CHECK(len == frame.size());
      }
    }
  }
  CHECK(accepted > 0);
  CHECK(refused > 0);
}
