// NetDriver: the driver side of virtio-net's two split virtqueues (rx 0, tx 1) laid out in one
// anonymous GuestMemory, plus a Harness that puts a Net behind an MmioTransport the way Linux
// brings it up. Test-only; used by the frame and device tests.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "runner/devices/virtio/mmio.h"
#include "runner/devices/virtio/net/frame.h"
#include "runner/devices/virtio/net/net.h"
#include "runner/devices/virtio/queue.h"
#include "runner/memory/guest_memory.h"
#include "tests/runner/devices/counting_interrupt.h"
#include "tests/runner/devices/virtio/fake_driver.h"
#include "tests/runner/devices/virtio/mmio_driver.h"

namespace snapfaas::runner::virtio::net::test {

/// A virtio_net_hdr as a driver writes it (little-endian fields): the inverse of frame.cpp's decode.
inline std::array<std::uint8_t, kVnetHdrLen> encode(const VnetHeader& h) {
  std::array<std::uint8_t, kVnetHdrLen> raw{};
  raw[0] = h.flags;
  raw[1] = h.gso_type;
  const std::uint16_t f[5] = {h.hdr_len, h.gso_size, h.csum_start, h.csum_offset, h.num_buffers};
  for (std::size_t i = 0; i < 5; ++i) {
    raw[2 + 2 * i] = static_cast<std::uint8_t>(f[i] & 0xff);
    raw[3 + 2 * i] = static_cast<std::uint8_t>(f[i] >> 8);
  }
  return raw;
}

using virtio::test::Desc;
using virtio::test::kDescFNext;
using virtio::test::kDescFWrite;
using virtio::test::UsedElem;

/// One split ring's driver side at fixed guest addresses.
struct Ring {
  std::uint64_t desc, avail, used;
  std::uint16_t size;
  std::uint16_t avail_idx = 0;
};

class NetDriver {
 public:
  static constexpr std::uint64_t kMemSize = 1 << 20;
  static constexpr std::uint16_t kSize = 16;
  static constexpr std::uint64_t kRxBufs = 0x10000;  // 16 x 2 KiB receive buffers
  static constexpr std::uint64_t kRxBufLen = 2048;
  static constexpr std::uint64_t kTxBufs = 0x20000;  // 12 x 64 KiB transmit buffers (to 0xe0000)
  static constexpr std::uint64_t kTxBufLen = 0x10000;

  NetDriver() { mem.add_region(0, MmapRegion::anonymous(kMemSize)); }

  void set_desc(Ring& r, std::uint16_t i, std::uint64_t addr, std::uint32_t len, std::uint16_t flags = 0,
                std::uint16_t next = 0) {
    (void)mem.write_obj(r.desc + 16ull * i, Desc{addr, len, flags, next});
  }
  void publish(Ring& r, std::uint16_t head) {
    (void)mem.write_obj<std::uint16_t>(r.avail + 4 + 2ull * (r.avail_idx % r.size), head);
    set_avail_idx(r, static_cast<std::uint16_t>(r.avail_idx + 1));
  }
  void set_avail_idx(Ring& r, std::uint16_t idx) {
    r.avail_idx = idx;
    (void)mem.write_obj<std::uint16_t>(r.avail + 2, idx);
  }
  void set_avail_flags(Ring& r, std::uint16_t flags) { (void)mem.write_obj<std::uint16_t>(r.avail, flags); }
  void set_used_event(Ring& r, std::uint16_t v) { (void)mem.write_obj<std::uint16_t>(r.avail + 4 + 2ull * r.size, v); }
  [[nodiscard]] std::uint16_t used_idx(const Ring& r) const { return *mem.read_obj<std::uint16_t>(r.used + 2); }
  [[nodiscard]] UsedElem used(const Ring& r, std::uint16_t i) const {
    return *mem.read_obj<UsedElem>(r.used + 4 + 8ull * (i % r.size));
  }
  [[nodiscard]] Queue make_queue(const Ring& r, std::uint64_t features = 0) const {
    Queue q(r.size);
    q.set_size(r.size);
    q.set_desc_table(r.desc);
    q.set_avail_ring(r.avail);
    q.set_used_ring(r.used);
    q.set_features(features);
    q.set_ready(true);
    return q;
  }
  [[nodiscard]] std::vector<std::uint8_t> bytes(std::uint64_t gpa, std::size_t len) const {
    std::vector<std::uint8_t> out(len);
    (void)mem.read(gpa, out);
    return out;
  }

  GuestMemory mem;
  Ring rx{0x1000, 0x2000, 0x3000, kSize};
  Ring tx{0x5000, 0x6000, 0x7000, kSize};
};

/// A Net on `tap` behind a transport, negotiated with `features` (offered & requested) and both
/// queues set up on NetDriver's layout.
struct Harness {
  Harness(const std::string& tap, const MacAddress& mac, std::uint64_t want_features) {
    auto n = std::make_unique<Net>(NetConfig{tap, mac});
    n->start_rx({});
    net = n.get();
    t = std::make_unique<MmioTransport>(d.mem, std::move(n), irq);
    using namespace virtio::test;
    write32(*t, reg::kDeviceFeaturesSel, 0);
    offered = read32(*t, reg::kDeviceFeatures);
    write32(*t, reg::kDeviceFeaturesSel, 1);
    offered |= std::uint64_t{read32(*t, reg::kDeviceFeatures)} << 32;
    negotiated = offered & want_features;
    status_after_features = negotiate(*t, negotiated);
    setup_queue(*t, 0, d.rx.size, d.rx.desc, d.rx.avail, d.rx.used);
    setup_queue(*t, 1, d.tx.size, d.tx.desc, d.tx.avail, d.tx.used);
    driver_ok(*t);
  }

  /// Posts `n` receive buffers (descriptors rx_next.. , 2 KiB each) and notifies queue 0.
  void post_rx(std::uint16_t n, bool notify = true) {
    for (std::uint16_t k = 0; k < n; ++k) {
      const std::uint16_t i = static_cast<std::uint16_t>(rx_next++ % d.rx.size);
      d.set_desc(d.rx, i, NetDriver::kRxBufs + NetDriver::kRxBufLen * i, NetDriver::kRxBufLen, kDescFWrite);
      d.publish(d.rx, i);
    }
    if (notify) virtio::test::write32(*t, reg::kQueueNotify, 0);
  }
  /// Sends one frame: a 12-byte header (filled with `hdr_fill`) and `frame` in one descriptor.
  void send(std::span<const std::uint8_t> frame, std::uint8_t hdr_fill = 0) {
    std::array<std::uint8_t, kVnetHdrLen> hdr;
    hdr.fill(hdr_fill);
    send(hdr, frame);
  }
  /// Sends one frame behind the given virtio-net header, in one descriptor.
  void send(const std::array<std::uint8_t, kVnetHdrLen>& hdr, std::span<const std::uint8_t> frame) {
    const std::uint16_t i = static_cast<std::uint16_t>(tx_next++ % 12);
    const std::uint64_t gpa = NetDriver::kTxBufs + NetDriver::kTxBufLen * i;
    (void)d.mem.write(gpa, hdr);
    (void)d.mem.write(gpa + kVnetHdrLen, frame);
    d.set_desc(d.tx, i, gpa, static_cast<std::uint32_t>(kVnetHdrLen + frame.size()));
    d.publish(d.tx, i);
    virtio::test::write32(*t, reg::kQueueNotify, 1);
  }

  NetDriver d;
  std::shared_ptr<runner::test::CountingInterrupt> irq = std::make_shared<runner::test::CountingInterrupt>();
  Net* net = nullptr;
  std::unique_ptr<MmioTransport> t;
  std::uint64_t offered = 0;
  std::uint64_t negotiated = 0;
  std::uint32_t status_after_features = 0;
  std::uint16_t rx_next = 0;
  std::uint16_t tx_next = 0;
};

}  // namespace snapfaas::runner::virtio::net::test
