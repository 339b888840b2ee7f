// virtio-net frame transfer: transmit header validation (each rule, random headers against an
// independent statement of the rules), tx gather and rx scatter on well-formed, malformed and
// random descriptor chains (no tap needed), and MAC address parsing.
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

constexpr std::uint64_t kCsum = 1ull << kFeatureCsum;
constexpr std::uint64_t kTso4 = 1ull << kFeatureHostTso4;
constexpr std::uint64_t kTso6 = 1ull << kFeatureHostTso6;
constexpr std::uint64_t kOffloads = kCsum | kTso4 | kTso6;

// What a Linux guest sends for a TSO'd IPv4 TCP frame: partial checksum at the TCP header.
VnetHeader tso4_header() {
  VnetHeader h;
  h.flags = kHdrFNeedsCsum;
  h.gso_type = kGsoTcpV4;
  h.hdr_len = 14 + 20 + 20;
  h.gso_size = 1448;
  h.csum_start = 14 + 20;
  h.csum_offset = kTcpCsumOffset;
  return h;
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

TEST_CASE("validate_tx_header accepts no offload, a partial checksum and TCP GSO when negotiated") {
  CHECK(validate_tx_header(VnetHeader{}, 0, 60) == HeaderError::kNone);
  CHECK(validate_tx_header(VnetHeader{}, kOffloads, 0) == HeaderError::kNone);
  VnetHeader csum;
  csum.flags = kHdrFNeedsCsum;
  csum.csum_start = 34;
  csum.csum_offset = 6;  // UDP checksum
  CHECK(validate_tx_header(csum, kCsum, 42) == HeaderError::kNone);
  CHECK(validate_tx_header(tso4_header(), kCsum | kTso4, 65000) == HeaderError::kNone);
  VnetHeader v6 = tso4_header();
  v6.gso_type = kGsoTcpV6;
  v6.csum_start = 14 + 40;
  CHECK(validate_tx_header(v6, kCsum | kTso6, 65000) == HeaderError::kNone);
  // Without NEEDS_CSUM the checksum fields mean nothing (§5.1.6.2) and are not checked.
  VnetHeader plain;
  plain.csum_start = 0xffff;
  plain.csum_offset = 0xffff;
  plain.num_buffers = 7;  // ignored on transmit
  CHECK(validate_tx_header(plain, 0, 60) == HeaderError::kNone);
}

TEST_CASE("validate_tx_header refuses each broken rule") {
  SUBCASE("flags other than 0 or NEEDS_CSUM") {
    for (const std::uint8_t f : {2, 3, 4, 0x80, 0xff}) {
      VnetHeader h;
      h.flags = f;
      CHECK(validate_tx_header(h, kOffloads, 1000) == HeaderError::kBadFlags);
    }
  }
  SUBCASE("NEEDS_CSUM without CSUM negotiated") {
    VnetHeader h;
    h.flags = kHdrFNeedsCsum;
    h.csum_start = 34;
    h.csum_offset = 16;
    CHECK(validate_tx_header(h, kTso4 | kTso6, 1000) == HeaderError::kCsumNotNegotiated);
  }
  SUBCASE("checksum field beyond the packet, at the edge and with 16-bit extremes") {
    VnetHeader h;
    h.flags = kHdrFNeedsCsum;
    h.csum_start = 34;
    h.csum_offset = 16;
    CHECK(validate_tx_header(h, kCsum, 34 + 16 + 2) == HeaderError::kNone);
    CHECK(validate_tx_header(h, kCsum, 34 + 16 + 1) == HeaderError::kCsumOutOfFrame);
    h.csum_start = 0xffff;
    h.csum_offset = 0xffff;
    CHECK(validate_tx_header(h, kCsum, kMaxFrameLen - kVnetHdrLen) == HeaderError::kCsumOutOfFrame);
  }
  SUBCASE("gso_type other than NONE, TCPV4, TCPV6 (UDP, UDP_L4, ECN not offered)") {
    for (const std::uint8_t g : {3, 5, 2, 0x80, 0x81, 0x84, 0xff}) {
      VnetHeader h = tso4_header();
      h.gso_type = g;
      CHECK(validate_tx_header(h, kOffloads, 65000) == HeaderError::kBadGsoType);
    }
  }
  SUBCASE("TSO without its feature") {
    VnetHeader h = tso4_header();
    CHECK(validate_tx_header(h, kCsum | kTso6, 65000) == HeaderError::kGsoNotNegotiated);
    CHECK(validate_tx_header(h, kCsum, 65000) == HeaderError::kGsoNotNegotiated);
    h.gso_type = kGsoTcpV6;
    CHECK(validate_tx_header(h, kCsum | kTso4, 65000) == HeaderError::kGsoNotNegotiated);
  }
  SUBCASE("GSO without a TCP partial checksum") {
    VnetHeader h = tso4_header();
    h.flags = 0;
    CHECK(validate_tx_header(h, kOffloads, 65000) == HeaderError::kGsoWithoutCsum);
    h = tso4_header();
    h.csum_offset = 6;
    CHECK(validate_tx_header(h, kOffloads, 65000) == HeaderError::kGsoWithoutCsum);
  }
  SUBCASE("gso_size 0") {
    VnetHeader h = tso4_header();
    h.gso_size = 0;
    CHECK(validate_tx_header(h, kOffloads, 65000) == HeaderError::kGsoZeroSize);
  }
  SUBCASE("hdr_len beyond the packet") {
    VnetHeader h = tso4_header();
    h.hdr_len = 100;
    CHECK(validate_tx_header(h, kOffloads, 100) == HeaderError::kNone);
    CHECK(validate_tx_header(h, kOffloads, 99) == HeaderError::kGsoHdrLenOutOfFrame);
  }
  SUBCASE("packet longer than the maximum") {
    CHECK(validate_tx_header(tso4_header(), kOffloads, kMaxFrameLen - kVnetHdrLen) == HeaderError::kNone);
    CHECK(validate_tx_header(tso4_header(), kOffloads, kMaxFrameLen - kVnetHdrLen + 1) == HeaderError::kTooLong);
    CHECK(validate_tx_header(VnetHeader{}, 0, 0xffffffffu) == HeaderError::kTooLong);
  }
}

TEST_CASE("validate_tx_header never accepts a random header the rules refuse") {
  // The rules stated once more, independently, as the oracle for random headers whose fields
  // are biased towards the interesting values.
  const auto valid = [](const VnetHeader& h, std::uint64_t neg, std::uint32_t len) {
    const bool csum = h.flags == 1;
    if (len > 65549) return false;
    if (h.flags > 1) return false;
    if (csum && ((neg & 1) == 0 || h.csum_start + h.csum_offset + 2 > static_cast<int>(len))) return false;
    if (h.gso_type == 0) return true;
    const bool tcp4 = h.gso_type == 1 && ((neg >> 11) & 1) != 0;
    const bool tcp6 = h.gso_type == 4 && ((neg >> 12) & 1) != 0;
    return (tcp4 || tcp6) && csum && h.csum_offset == 16 && h.gso_size > 0 && h.hdr_len <= len;
  };
  std::mt19937_64 rng(0x5eed);
  const auto pick16 = [&](std::uint16_t typical) {
    switch (rng() % 4) {
      case 0: return static_cast<std::uint16_t>(rng());
      case 1: return static_cast<std::uint16_t>(rng() % 128);
      default: return typical;
    }
  };
  int accepted = 0;
  int refused = 0;
  for (int i = 0; i < 200000; ++i) {
    VnetHeader h;
    h.flags = rng() % 3 ? static_cast<std::uint8_t>(rng() % 3) : static_cast<std::uint8_t>(rng());
    h.gso_type = rng() % 3 ? std::array<std::uint8_t, 4>{0, 1, 4, 0x81}[rng() % 4] : static_cast<std::uint8_t>(rng());
    h.hdr_len = pick16(54);
    h.gso_size = rng() % 8 ? pick16(1448) : 0;
    h.csum_start = pick16(34);
    h.csum_offset = pick16(16);
    h.num_buffers = static_cast<std::uint16_t>(rng());
    const std::uint64_t neg = rng() & kOffloads;
    const auto len = static_cast<std::uint32_t>(rng() % 8 == 0 ? rng() % 0x20000 : rng() % 70000);
    const bool ok = validate_tx_header(h, neg, len) == HeaderError::kNone;
    if (ok != valid(h, neg, len)) {
      FAIL_CHECK("flags " << int{h.flags} << " gso_type " << int{h.gso_type} << " hdr_len " << h.hdr_len
                          << " gso_size " << h.gso_size << " csum " << h.csum_start << "+" << h.csum_offset
                          << " negotiated " << neg << " len " << len << ": accepted " << ok);
      break;
    }
    (ok ? accepted : refused) += 1;
  }
  CHECK(accepted > 1000);
  CHECK(refused > 1000);
}

TEST_CASE("gather_tx passes the guest's validated header on and skips it across descriptors") {
  NetDriver d;
  std::vector<std::uint8_t> frame(100);
  for (std::size_t i = 0; i < frame.size(); ++i) frame[i] = static_cast<std::uint8_t>(i * 7);
  VnetHeader h = tso4_header();
  h.hdr_len = 54;
  h.gso_size = 20;
  const auto hdr = encode(h);
  // Header split 5 + 7, then the frame in two pieces.
  REQUIRE(d.mem.write(kBuf, hdr));
  REQUIRE(d.mem.write(kBuf + kVnetHdrLen, frame));
  d.set_desc(d.tx, 0, kBuf, 5, kDescFNext, 1);
  d.set_desc(d.tx, 1, kBuf + 5, 7 + 30, kDescFNext, 2);
  d.set_desc(d.tx, 2, kBuf + kVnetHdrLen + 30, 70);
  d.publish(d.tx, 0);
  Queue q = d.make_queue(d.tx);
  const DescriptorChain c = pop_one(d, q);
  std::vector<iovec> iov;
  TxFrame tx;
  REQUIRE(gather_tx(d.mem, c, kOffloads, iov, tx) == FrameError::kNone);
  CHECK(tx.len == kVnetHdrLen + 100);
  // A copy: the guest rewriting its header after validation changes nothing that reaches the tap.
  REQUIRE(d.mem.write(kBuf, std::vector<std::uint8_t>(kVnetHdrLen, 0xff)));
  const auto out = flatten(iov);
  REQUIRE(out.size() == kVnetHdrLen + 100);
  CHECK(std::vector<std::uint8_t>(out.begin(), out.begin() + kVnetHdrLen) ==
        std::vector<std::uint8_t>(hdr.begin(), hdr.end()));
  CHECK(std::vector<std::uint8_t>(out.begin() + kVnetHdrLen, out.end()) == frame);
  CHECK(iov.size() == 3);  // header copy, 30 bytes of descriptor 1, descriptor 2 (descriptor 0 skipped)

  // The same chain negotiated without TSO, and an all-ones header: refused, nothing to write.
  REQUIRE(d.mem.write(kBuf, hdr));
  CHECK(gather_tx(d.mem, c, kCsum, iov, tx) == FrameError::kBadHeader);
  CHECK(tx.header_error == HeaderError::kGsoNotNegotiated);
  CHECK(tx.len == 0);
  CHECK(iov.empty());
  REQUIRE(d.mem.write(kBuf, std::vector<std::uint8_t>(kVnetHdrLen, 0xff)));
  CHECK(gather_tx(d.mem, c, kOffloads, iov, tx) == FrameError::kBadHeader);
  CHECK(tx.header_error == HeaderError::kBadFlags);
  CHECK(iov.empty());
}

TEST_CASE("gather_tx refuses writable, short and overlong chains") {
  NetDriver d;
  Queue q = d.make_queue(d.tx);
  std::vector<iovec> iov;
  TxFrame tx;
  tx.len = 99;
  REQUIRE(d.mem.write(kBuf, std::vector<std::uint8_t>(kVnetHdrLen, 0)));
  d.set_desc(d.tx, 0, kBuf, 60, kDescFNext, 1);
  d.set_desc(d.tx, 1, kBuf + 60, 60, kDescFWrite);
  d.publish(d.tx, 0);
  CHECK(gather_tx(d.mem, pop_one(d, q), kOffloads, iov, tx) == FrameError::kWrongDirection);
  CHECK(tx.len == 0);
  d.set_desc(d.tx, 2, kBuf, kVnetHdrLen - 1);
  d.publish(d.tx, 2);
  CHECK(gather_tx(d.mem, pop_one(d, q), kOffloads, iov, tx) == FrameError::kTooShort);
  d.set_desc(d.tx, 3, kBuf, kMaxFrameLen, kDescFNext, 4);
  d.set_desc(d.tx, 4, kBuf, 1);
  d.publish(d.tx, 3);
  CHECK(gather_tx(d.mem, pop_one(d, q), kOffloads, iov, tx) == FrameError::kTooLong);
  CHECK(iov.empty());
  d.set_desc(d.tx, 5, kBuf, kMaxFrameLen);  // exactly the maximum is fine
  d.publish(d.tx, 5);
  CHECK(gather_tx(d.mem, pop_one(d, q), kOffloads, iov, tx) == FrameError::kNone);
  CHECK(tx.len == kMaxFrameLen);
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
      TxFrame tx;
      const FrameError e =
          &r == &d.tx ? gather_tx(d.mem, c, kOffloads, iov, tx) : scatter_rx(d.mem, c, frame, len);
      if (&r == &d.tx) len = tx.len;
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
