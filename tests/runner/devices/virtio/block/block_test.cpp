// Block: full IN/OUT/FLUSH/GET_ID/read-only round trips through the virtio-mmio transport against
// a temp image, malformed and malicious requests, O_DIRECT, and save → restore.
#include "runner/devices/virtio/block/block.h"

#include <doctest/doctest.h>

#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"
#include "common/log_limit.h"
#include "tests/common/log_capture.h"
#include "tests/runner/devices/counting_interrupt.h"
#include "tests/runner/devices/virtio/block/temp_image.h"
#include "tests/runner/devices/virtio/mmio_driver.h"

using namespace snapfaas::runner;
using namespace snapfaas::runner::virtio;
using namespace snapfaas::runner::virtio::block;
using namespace snapfaas::runner::virtio::test;
using snapfaas::runner::test::CountingInterrupt;

namespace {

constexpr std::size_t kImageSize = 64 * 1024 + 100;  // 128 whole sectors and a partial one
constexpr std::uint64_t kHdr = FakeDriver::kData;
constexpr std::uint64_t kStatusGpa = FakeDriver::kData + 0x100;
constexpr std::uint64_t kBuf = FakeDriver::kData + 0x1000;

struct Header {
  std::uint32_t type;
  std::uint32_t reserved;
  std::uint64_t sector;
};

struct Seg {
  std::uint64_t gpa;
  std::uint32_t len;
};

struct Result {
  UsedElem used;
  std::uint8_t status;
};

// One virtio-blk behind a transport, driven through its registers like Linux would.
struct Harness {
  explicit Harness(BlockConfig cfg) {
    auto b = std::make_unique<Block>(std::move(cfg));
    block = b.get();
    t = std::make_unique<MmioTransport>(d.mem, std::move(b), irq);
    write32(*t, reg::kDeviceFeaturesSel, 0);
    offered = read32(*t, reg::kDeviceFeatures);
    write32(*t, reg::kDeviceFeaturesSel, 1);
    offered |= std::uint64_t{read32(*t, reg::kDeviceFeatures)} << 32;
    REQUIRE((negotiate(*t, offered) & kStatusFeaturesOk) != 0);
    setup_queue(*t, d);
    driver_ok(*t);
    REQUIRE(t->activated());
  }

  // Header in descriptor 0, data in 1..n, status last; returns the used element and status byte.
  Result submit(std::uint32_t type, std::uint64_t sector, std::vector<Seg> data, bool writable,
                std::uint32_t status_len = 1, std::uint16_t status_flags = kDescFWrite) {
    REQUIRE(d.mem.write_obj(kHdr, Header{type, 0, sector}));
    REQUIRE(d.mem.write_obj<std::uint8_t>(kStatusGpa, 0xee));
    std::uint16_t i = 0;
    d.set_desc(i, kHdr, 16, kDescFNext, 1);
    for (const Seg& s : data) {
      ++i;
      d.set_desc(i, s.gpa, s.len, static_cast<std::uint16_t>(kDescFNext | (writable ? kDescFWrite : 0)),
                 static_cast<std::uint16_t>(i + 1));
    }
    ++i;
    d.set_desc(i, kStatusGpa, status_len, status_flags);
    d.publish(0);
    write32(*t, reg::kQueueNotify, 0);
    return Result{d.used(static_cast<std::uint16_t>(d.used_idx() - 1)), *d.mem.read_obj<std::uint8_t>(kStatusGpa)};
  }

  std::vector<std::uint8_t> guest(std::uint64_t gpa, std::size_t len) {
    std::vector<std::uint8_t> out(len);
    REQUIRE(d.mem.read(gpa, out));
    return out;
  }

  FakeDriver d{8};
  std::shared_ptr<CountingInterrupt> irq = std::make_shared<CountingInterrupt>();
  Block* block = nullptr;
  std::unique_ptr<MmioTransport> t;
  std::uint64_t offered = 0;
};

std::vector<std::uint8_t> expected(std::uint64_t off, std::size_t len) {
  std::vector<std::uint8_t> v(len);
  for (std::size_t i = 0; i < len; ++i) v[i] = pattern(off + i);
  return v;
}

}  // namespace

TEST_CASE("Block opens images, reports capacity and refuses bad configurations") {
  TempImage img(kImageSize);
  Harness h(BlockConfig{img.path, false, false, "rootfs"});
  CHECK(h.block->capacity_sectors() == 128);
  std::array<std::uint8_t, 8> cap{};
  h.t->read(reg::kConfig, cap);
  CHECK(cap == std::array<std::uint8_t, 8>{128, 0, 0, 0, 0, 0, 0, 0});
  std::array<std::uint8_t, 4> seg{};
  h.t->read(reg::kConfig + 12, seg);
  CHECK(seg[0] == 254);  // seg_max
  CHECK((h.offered & (1ull << kFeatureRo)) == 0);
  CHECK((h.offered & (1ull << kFeatureFlush)) != 0);

  try {
    Block b(BlockConfig{"/nonexistent/disk.img", true, false, ""});
    FAIL("opened a missing image");
  } catch (const snapfaas::common::Error& e) {
    CHECK(std::string(e.what()).find("/nonexistent/disk.img") != std::string::npos);
    CHECK(std::string(e.what()).find("No such file") != std::string::npos);
  }
  CHECK_THROWS_AS(Block(BlockConfig{img.path, true, false, std::string(21, 'x')}), snapfaas::common::Error);
  CHECK_THROWS_AS(Block(BlockConfig{"/tmp", true, false, ""}), snapfaas::common::Error);
}

TEST_CASE("Block IN reads sectors into scattered guest buffers") {
  TempImage img(kImageSize);
  Harness h(BlockConfig{img.path, true, false, ""});
  const Result r = h.submit(kTypeIn, 2, {{kBuf, 512}, {kBuf + 0x2000, 1024}}, true);
  CHECK(r.status == kStatusOk);
  CHECK(r.used.id == 0);
  CHECK(r.used.len == 1537);
  CHECK(h.guest(kBuf, 512) == expected(1024, 512));
  CHECK(h.guest(kBuf + 0x2000, 1024) == expected(1536, 1024));
  CHECK(h.irq->get() == 1);
  CHECK((read32(*h.t, reg::kInterruptStatus) & kInterruptUsedBuffer) != 0);
  // The last whole sector is readable, the partial one past it is not.
  CHECK(h.submit(kTypeIn, 127, {{kBuf, 512}}, true).status == kStatusOk);
  CHECK(h.submit(kTypeIn, 127, {{kBuf, 1024}}, true).status == kStatusIoErr);
  CHECK(h.submit(kTypeIn, 128, {{kBuf, 512}}, true).status == kStatusIoErr);
  CHECK(h.submit(kTypeIn, std::numeric_limits<std::uint64_t>::max(), {{kBuf, 512}}, true).status == kStatusIoErr);
}

TEST_CASE("Block OUT writes the image and IN reads it back") {
  TempImage img(kImageSize);
  Harness h(BlockConfig{img.path, false, false, ""});
  std::vector<std::uint8_t> data(1024);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(0xa0 + i % 13);
  REQUIRE(h.d.mem.write(kBuf, data));
  const Result w = h.submit(kTypeOut, 5, {{kBuf, 256}, {kBuf + 256, 768}}, false);
  CHECK(w.status == kStatusOk);
  CHECK(w.used.len == 1);  // nothing but the status byte was written to the guest
  CHECK(img.contents(5 * 512, 1024) == data);
  CHECK(img.contents(4 * 512, 512) == expected(4 * 512, 512));  // neighbours untouched
  CHECK(h.submit(kTypeFlush, 0, {}, false).status == kStatusOk);
  const Result r = h.submit(kTypeIn, 5, {{kBuf + 0x4000, 1024}}, true);
  CHECK(r.status == kStatusOk);
  CHECK(h.guest(kBuf + 0x4000, 1024) == data);
  CHECK(h.submit(kTypeOut, 128, {{kBuf, 512}}, false).status == kStatusIoErr);  // past capacity
}

TEST_CASE("Block read-only: offers VIRTIO_BLK_F_RO and fails writes with IOERR") {
  TempImage img(kImageSize);
  Harness h(BlockConfig{img.path, true, false, ""});
  CHECK((h.offered & (1ull << kFeatureRo)) != 0);
  REQUIRE(h.d.mem.write(kBuf, std::vector<std::uint8_t>(512, 0x11)));
  const Result w = h.submit(kTypeOut, 0, {{kBuf, 512}}, false);
  CHECK(w.status == kStatusIoErr);
  CHECK(w.used.len == 1);
  CHECK(img.contents(0, 512) == expected(0, 512));
  CHECK(h.submit(kTypeFlush, 0, {}, false).status == kStatusOk);
  CHECK(h.submit(kTypeIn, 0, {{kBuf, 512}}, true).status == kStatusOk);
}

TEST_CASE("Block GET_ID and unsupported types") {
  TempImage img(kImageSize);
  Harness h(BlockConfig{img.path, true, false, "rootfs"});
  const Result r = h.submit(kTypeGetId, 0, {{kBuf, 20}}, true);
  CHECK(r.status == kStatusOk);
  CHECK(r.used.len == 21);
  std::vector<std::uint8_t> id(20, 0);
  std::memcpy(id.data(), "rootfs", 6);
  CHECK(h.guest(kBuf, 20) == id);
  REQUIRE(h.d.mem.write(kBuf + 0x100, std::vector<std::uint8_t>(8, 0xff)));
  const Result shortbuf = h.submit(kTypeGetId, 0, {{kBuf + 0x100, 4}}, true);
  CHECK(shortbuf.used.len == 5);
  CHECK(h.guest(kBuf + 0x100, 8) == std::vector<std::uint8_t>{'r', 'o', 'o', 't', 0xff, 0xff, 0xff, 0xff});
  const Result u = h.submit(0x77, 0, {}, false);
  CHECK(u.status == kStatusUnsupported);
  CHECK(u.used.len == 1);

  Block derived(BlockConfig{img.path, true, false, ""});  // empty id: derived from dev/inode
  CHECK_FALSE(derived.id().empty());
  CHECK(derived.id().size() <= 20);
}

TEST_CASE("Block answers malformed and malicious requests without breaking") {
  TempImage img(kImageSize);
  Harness h(BlockConfig{img.path, false, false, ""});
  SUBCASE("read-only status descriptor: returned with length 0, no status written") {
    const Result r = h.submit(kTypeIn, 0, {{kBuf, 512}}, true, 1, 0);
    CHECK(r.used.len == 0);
    CHECK(r.status == 0xee);
  }
  SUBCASE("zero-length status descriptor") {
    const Result r = h.submit(kTypeIn, 0, {{kBuf, 512}}, true, 0);
    CHECK(r.used.len == 0);
    CHECK(r.status == 0xee);
  }
  SUBCASE("IN into device-readable buffers: IOERR") {
    const Result r = h.submit(kTypeIn, 0, {{kBuf, 512}}, false);
    CHECK(r.status == kStatusIoErr);
    CHECK(r.used.len == 1);
  }
  SUBCASE("IN of a partial sector: IOERR") {
    CHECK(h.submit(kTypeIn, 0, {{kBuf, 100}}, true).status == kStatusIoErr);
  }
  SUBCASE("descriptor loop: head returned with length 0") {
    h.d.set_desc(0, kHdr, 16, kDescFNext, 1);
    h.d.set_desc(1, kBuf, 512, kDescFNext | kDescFWrite, 0);
    h.d.publish(0);
    write32(*h.t, reg::kQueueNotify, 0);
    CHECK(h.d.used_idx() == 1);
    CHECK(h.d.used(0).len == 0);
  }
  SUBCASE("data buffer outside guest memory") {
    const Result r = h.submit(kTypeIn, 0, {{FakeDriver::kMemSize - 256, 512}}, true);
    CHECK(r.used.len == 0);
    CHECK(r.status == 0xee);
  }
  // The device keeps serving well-formed requests.
  CHECK((read32(*h.t, reg::kStatus) & kStatusDeviceNeedsReset) == 0);
  const Result ok = h.submit(kTypeIn, 1, {{kBuf, 512}}, true);
  CHECK(ok.status == kStatusOk);
  CHECK(h.guest(kBuf, 512) == expected(512, 512));
}

TEST_CASE("Block: a guest repeating malformed requests gets a burst of log lines, not one per request") {
  TempImage img(kImageSize);
  Harness h(BlockConfig{img.path, false, false, ""});
  snapfaas::test::LogCapture capture;
  for (int i = 0; i < 5'000; ++i) {
    (void)h.submit(kTypeIn, 0, {{kBuf, 512}}, true, 0);          // zero-length status: malformed
    h.d.set_desc(0, kHdr, 16, kDescFNext, 1);                    // a descriptor loop: bad chain
    h.d.set_desc(1, kBuf, 512, kDescFNext | kDescFWrite, 0);
    h.d.publish(0);
    write32(*h.t, reg::kQueueNotify, 0);
  }
  INFO(capture.text().substr(0, 2000));
  CHECK(capture.lines_with("virtio-blk") >= 2);
  CHECK(capture.lines_with("virtio-blk") <= 2 * (snapfaas::common::LogLimit::kBurst + 2));
  CHECK(h.submit(kTypeIn, 1, {{kBuf, 512}}, true).status == kStatusOk);
}

TEST_CASE("Block: an avail idx jump breaks the queue and the transport asks for a reset") {
  TempImage img(kImageSize);
  Harness h(BlockConfig{img.path, false, false, ""});
  h.d.set_avail_idx(100);
  write32(*h.t, reg::kQueueNotify, 0);
  CHECK((read32(*h.t, reg::kStatus) & kStatusDeviceNeedsReset) != 0);
  CHECK((read32(*h.t, reg::kInterruptStatus) & kInterruptConfigChange) != 0);
  CHECK(h.d.used_idx() == 0);
}

TEST_CASE("Block with O_DIRECT: unaligned guest buffers through the bounce buffer") {
  TempImage img(kImageSize);
  Harness h(BlockConfig{img.path, false, true, ""});
  std::vector<std::uint8_t> data(1536);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 3 + 1);
  REQUIRE(h.d.mem.write(kBuf + 0x10, data));
  const Result w = h.submit(kTypeOut, 9, {{kBuf + 0x10, 256}, {kBuf + 0x110, 768}, {kBuf + 0x410, 512}}, false);
  CHECK(w.status == kStatusOk);
  CHECK(img.contents(9 * 512, 1536) == data);
  const Result r = h.submit(kTypeIn, 8, {{kBuf + 0x3003, 700}, {kBuf + 0x5001, 1348}}, true);
  CHECK(r.status == kStatusOk);
  CHECK(r.used.len == 2049);
  std::vector<std::uint8_t> want = expected(8 * 512, 512);
  want.insert(want.end(), data.begin(), data.end());
  CHECK(h.guest(kBuf + 0x3003, 700) == std::vector<std::uint8_t>(want.begin(), want.begin() + 700));
  CHECK(h.guest(kBuf + 0x5001, 1348) == std::vector<std::uint8_t>(want.begin() + 700, want.end()));
}

TEST_CASE("BlockState save -> restore round trip, with the transport") {
  TempImage img(kImageSize);
  Harness h(BlockConfig{img.path, true, false, "appfs"});
  REQUIRE(h.submit(kTypeIn, 0, {{kBuf, 512}}, true).status == kStatusOk);
  const BlockState bs = h.block->save();
  CHECK(bs.path == img.path);
  CHECK(bs.read_only);
  CHECK(bs.id == "appfs");
  CHECK(bs.capacity_sectors == 128);
  const MmioState ms = h.t->save();

  // A restore backs the device with an image descriptor the restoring VM opened itself.
  auto restored = std::make_unique<Block>(BlockConfig{img.path, true, false, "appfs"}, h.block->dup_image());
  CHECK(restored->save() == bs);
  auto t2 = MmioTransport::restore(h.d.mem, std::move(restored), h.irq, ms);
  h.t.reset();  // the original goes away, as after a snapshot
  h.t = std::move(t2);
  const Result r = h.submit(kTypeIn, 3, {{kBuf, 512}}, true);
  CHECK(r.status == kStatusOk);
  CHECK(h.d.used_idx() == 2);  // continued from the saved ring indices
  CHECK(h.guest(kBuf, 512) == expected(3 * 512, 512));
  CHECK_THROWS_AS(Block(BlockConfig{"none", true, false, "appfs"}, snapfaas::common::UniqueFd()), snapfaas::common::Error);
}
