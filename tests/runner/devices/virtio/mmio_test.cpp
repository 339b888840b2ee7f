// MmioTransport: virtio-mmio v2 register protocol — identification, feature negotiation, queue
// setup, DRIVER_OK activation checks, notify, interrupts, reset, bad values, save → restore.
#include "runner/devices/virtio/mmio.h"

#include <doctest/doctest.h>

#include <array>
#include <stdexcept>
#include <vector>

#include "common/error.h"
#include "common/log_limit.h"
#include "tests/common/log_capture.h"
#include "tests/runner/devices/counting_interrupt.h"
#include "tests/runner/devices/virtio/mmio_driver.h"

using namespace snapfaas::runner;
using namespace snapfaas::runner::virtio;
using namespace snapfaas::runner::virtio::test;
using snapfaas::runner::test::CountingInterrupt;

namespace {

constexpr std::uint64_t kVersion1 = 1ull << kFeatureVersion1;
constexpr std::uint64_t kFeatureX = 1ull << 3;  // a device-specific feature the fake offers
constexpr std::uint32_t kAllButDriverOk = kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk;

// Queue 1 of the fake device lives after FakeDriver's queue-0 rings.
constexpr std::uint64_t kQ1Desc = 0x5000, kQ1Avail = 0x6000, kQ1Used = 0x7000;

struct FakeDevice : VirtioDevice {
  std::uint32_t device_type() const noexcept override { return 42; }
  std::uint64_t features() const noexcept override { return kVersion1 | kFeatureX; }
  std::span<const std::uint16_t> queue_max_sizes() const noexcept override { return sizes; }
  void read_config(std::uint64_t offset, std::span<std::uint8_t> data) const noexcept override {
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = offset + i < config.size() ? config[offset + i] : 0;
  }
  void write_config(std::uint64_t offset, std::span<const std::uint8_t> data) noexcept override {
    for (std::size_t i = 0; i < data.size() && offset + i < config.size(); ++i) config[offset + i] = data[i];
  }
  void activate(const GuestMemory& m, std::span<Queue> q, std::uint64_t a, std::shared_ptr<VirtioInterrupt> i) override {
    if (fail_activate) throw snapfaas::common::Error("fake activation failure");
    ++activations;
    mem = &m;
    queues = q;
    acked = a;
    irq = std::move(i);
  }
  bool process_queue(std::size_t index) noexcept override {
    processed.push_back(index);
    if (break_queue) return false;
    irq->signal_used();
    return true;
  }
  void reset() noexcept override {
    ++resets;
    irq.reset();
    queues = {};
  }

  std::array<std::uint16_t, 2> sizes{8, 16};
  std::array<std::uint8_t, 8> config{1, 2, 3, 4, 5, 6, 7, 8};
  bool fail_activate = false;
  bool break_queue = false;
  int activations = 0;
  int resets = 0;
  std::vector<std::size_t> processed;
  const GuestMemory* mem = nullptr;
  std::span<Queue> queues;
  std::uint64_t acked = 0;
  std::shared_ptr<VirtioInterrupt> irq;
};

struct Fixture {
  Fixture() {
    auto dev = std::make_unique<FakeDevice>();
    fake = dev.get();
    t = std::make_unique<MmioTransport>(d.mem, std::move(dev), irq);
  }
  void setup_both_queues() {
    setup_queue(*t, d);
    setup_queue(*t, 1, 16, kQ1Desc, kQ1Avail, kQ1Used);
  }
  FakeDriver d{8};
  std::shared_ptr<CountingInterrupt> irq = std::make_shared<CountingInterrupt>();
  FakeDevice* fake = nullptr;
  std::unique_ptr<MmioTransport> t;
};

}  // namespace

TEST_CASE("virtio-mmio identification registers") {
  Fixture f;
  CHECK(read32(*f.t, reg::kMagicValue) == 0x74726976);
  CHECK(read32(*f.t, reg::kVersion) == 2);
  CHECK(read32(*f.t, reg::kDeviceId) == 42);
  CHECK(read32(*f.t, reg::kVendorId) == kMmioVendorId);
  CHECK(read32(*f.t, reg::kStatus) == 0);
  std::array<std::uint8_t, 2> half{0xaa, 0xaa};
  f.t->read(reg::kMagicValue, half);  // registers are 32-bit only
  CHECK(half[0] == 0);
  std::array<std::uint8_t, 4> word{};
  f.t->read(reg::kMagicValue + 2, word);  // misaligned
  CHECK(word[0] == 0);
  CHECK(mmio_kernel_arg(0xd0000000, 5) == "virtio_mmio.device=4K@0xd0000000:5");
}

TEST_CASE("virtio-mmio device features are paged by DeviceFeaturesSel") {
  Fixture f;
  write32(*f.t, reg::kDeviceFeaturesSel, 0);
  CHECK(read32(*f.t, reg::kDeviceFeatures) == static_cast<std::uint32_t>(kFeatureX));
  write32(*f.t, reg::kDeviceFeaturesSel, 1);
  CHECK(read32(*f.t, reg::kDeviceFeatures) == 1);  // VERSION_1 is bit 32
  write32(*f.t, reg::kDeviceFeaturesSel, 2);
  CHECK(read32(*f.t, reg::kDeviceFeatures) == 0);
}

TEST_CASE("virtio-mmio feature negotiation") {
  Fixture f;
  SUBCASE("accepted with VERSION_1") {
    CHECK(negotiate(*f.t, kVersion1 | kFeatureX) == kAllButDriverOk);
  }
  SUBCASE("refused without VERSION_1 (legacy driver)") {
    CHECK((negotiate(*f.t, kFeatureX) & kStatusFeaturesOk) == 0);
  }
  SUBCASE("refused when the driver acks an unoffered feature") {
    CHECK((negotiate(*f.t, kVersion1 | (1ull << 7)) & kStatusFeaturesOk) == 0);
  }
  SUBCASE("DriverFeatures before DRIVER is ignored") {
    write32(*f.t, reg::kDriverFeaturesSel, 1);
    write32(*f.t, reg::kDriverFeatures, 1);
    write32(*f.t, reg::kStatus, kStatusAcknowledge);
    write32(*f.t, reg::kStatus, kStatusAcknowledge | kStatusDriver);
    write32(*f.t, reg::kStatus, kAllButDriverOk);
    CHECK((read32(*f.t, reg::kStatus) & kStatusFeaturesOk) == 0);  // VERSION_1 never got acked
  }
  SUBCASE("status bits out of order are refused") {
    write32(*f.t, reg::kStatus, kStatusDriver);  // DRIVER without ACKNOWLEDGE
    CHECK(read32(*f.t, reg::kStatus) == 0);
    write32(*f.t, reg::kStatus, kStatusAcknowledge);
    write32(*f.t, reg::kStatus, kStatusAcknowledge | kStatusDriverOk);  // DRIVER_OK without FEATURES_OK
    CHECK(read32(*f.t, reg::kStatus) == kStatusAcknowledge);
    CHECK(f.fake->activations == 0);
  }
  SUBCASE("status cannot clear bits except by reset") {
    REQUIRE(negotiate(*f.t, kVersion1) == kAllButDriverOk);
    write32(*f.t, reg::kStatus, kStatusAcknowledge);
    CHECK(read32(*f.t, reg::kStatus) == kAllButDriverOk);
  }
}

TEST_CASE("virtio-mmio queue setup, DRIVER_OK activation and notify") {
  Fixture f;
  write32(*f.t, reg::kQueueSel, 1);
  CHECK(read32(*f.t, reg::kQueueNumMax) == 16);
  write32(*f.t, reg::kQueueSel, 2);
  CHECK(read32(*f.t, reg::kQueueNumMax) == 0);  // no such queue
  // Queue registers before FEATURES_OK are ignored.
  write32(*f.t, reg::kQueueSel, 0);
  write32(*f.t, reg::kQueueNum, 4);
  CHECK(read32(*f.t, reg::kQueueNum) == 8);

  REQUIRE(negotiate(*f.t, kVersion1 | kFeatureX) == kAllButDriverOk);
  f.setup_both_queues();
  write32(*f.t, reg::kQueueSel, 1);
  CHECK(read32(*f.t, reg::kQueueReady) == 1);
  CHECK(read32(*f.t, reg::kQueueDescLow) == kQ1Desc);
  CHECK(read32(*f.t, reg::kQueueDeviceLow) == kQ1Used);
  write32(*f.t, reg::kQueueNotify, 0);  // before DRIVER_OK: ignored
  CHECK(f.fake->processed.empty());

  driver_ok(*f.t);
  CHECK(read32(*f.t, reg::kStatus) == (kAllButDriverOk | kStatusDriverOk));
  CHECK(f.t->activated());
  REQUIRE(f.fake->activations == 1);
  CHECK(f.fake->acked == (kVersion1 | kFeatureX));
  CHECK(f.fake->queues.size() == 2);
  CHECK(f.fake->queues[1].size() == 16);
  CHECK(f.fake->mem == &f.d.mem);

  // Queue registers after DRIVER_OK are ignored.
  write32(*f.t, reg::kQueueSel, 0);
  write32(*f.t, reg::kQueueDescLow, 0x9000);
  CHECK(read32(*f.t, reg::kQueueDescLow) == FakeDriver::kDesc);

  write32(*f.t, reg::kQueueNotify, 1);
  write32(*f.t, reg::kQueueNotify, 7);  // no such queue: ignored
  CHECK(f.fake->processed == std::vector<std::size_t>{1});
  CHECK(f.irq->get() == 1);
  CHECK(read32(*f.t, reg::kInterruptStatus) == kInterruptUsedBuffer);
  write32(*f.t, reg::kInterruptAck, kInterruptUsedBuffer);
  CHECK(read32(*f.t, reg::kInterruptStatus) == 0);
}

TEST_CASE("virtio-mmio refuses DRIVER_OK with bad queue values") {
  Fixture f;
  REQUIRE(negotiate(*f.t, kVersion1) == kAllButDriverOk);
  SUBCASE("size not a power of two") {
    f.setup_both_queues();
    write32(*f.t, reg::kQueueSel, 1);
    write32(*f.t, reg::kQueueReady, 0);
    write32(*f.t, reg::kQueueNum, 12);
    write32(*f.t, reg::kQueueReady, 1);
  }
  SUBCASE("size above QueueNumMax") {
    setup_queue(*f.t, 0, 16, FakeDriver::kDesc, FakeDriver::kAvail, FakeDriver::kUsed);
  }
  SUBCASE("misaligned descriptor table") {
    setup_queue(*f.t, 0, 8, FakeDriver::kDesc + 4, FakeDriver::kAvail, FakeDriver::kUsed);
  }
  SUBCASE("used ring outside guest memory") {
    setup_queue(*f.t, 0, 8, FakeDriver::kDesc, FakeDriver::kAvail, 0x1'0000'0000);
  }
  SUBCASE("no queue ready") {}
  SUBCASE("device refuses activation") {
    f.fake->fail_activate = true;
    f.setup_both_queues();
  }
  driver_ok(*f.t);
  const std::uint32_t status = read32(*f.t, reg::kStatus);
  CHECK((status & kStatusDriverOk) == 0);
  CHECK((status & kStatusDeviceNeedsReset) != 0);
  CHECK_FALSE(f.t->activated());
  CHECK(f.fake->activations == 0);
  CHECK((read32(*f.t, reg::kInterruptStatus) & kInterruptConfigChange) != 0);
  CHECK(f.irq->get() == 1);
  write32(*f.t, reg::kQueueNotify, 0);
  CHECK(f.fake->processed.empty());
}

TEST_CASE("virtio-mmio reset on status 0 and recovery from a broken queue") {
  Fixture f;
  REQUIRE(negotiate(*f.t, kVersion1) == kAllButDriverOk);
  f.setup_both_queues();
  driver_ok(*f.t);
  REQUIRE(f.t->activated());

  f.fake->break_queue = true;
  write32(*f.t, reg::kQueueNotify, 0);
  CHECK((read32(*f.t, reg::kStatus) & kStatusDeviceNeedsReset) != 0);
  write32(*f.t, reg::kQueueNotify, 0);  // ignored until reset
  CHECK(f.fake->processed.size() == 1);

  write32(*f.t, reg::kStatus, 0);
  CHECK(read32(*f.t, reg::kStatus) == 0);
  CHECK(f.fake->resets == 1);
  CHECK_FALSE(f.t->activated());
  CHECK(read32(*f.t, reg::kInterruptStatus) == 0);
  write32(*f.t, reg::kQueueSel, 1);
  CHECK(read32(*f.t, reg::kQueueReady) == 0);
  CHECK(read32(*f.t, reg::kQueueNum) == 16);
  CHECK(read32(*f.t, reg::kQueueDescLow) == 0);

  f.fake->break_queue = false;
  REQUIRE(negotiate(*f.t, kVersion1) == kAllButDriverOk);
  f.setup_both_queues();
  driver_ok(*f.t);
  CHECK(f.t->activated());
  CHECK(f.fake->activations == 2);
  CHECK(f.fake->acked == kVersion1);
}

TEST_CASE("virtio-mmio config space and config generation") {
  Fixture f;
  std::array<std::uint8_t, 4> b{};
  f.t->read(reg::kConfig + 2, b);
  CHECK(b == std::array<std::uint8_t, 4>{3, 4, 5, 6});
  const std::array<std::uint8_t, 1> one{0x99};
  f.t->write(reg::kConfig + 7, one);
  CHECK(f.fake->config[7] == 0x99);
  CHECK(read32(*f.t, reg::kConfigGeneration) == 0);
  f.t->notify_config_change();
  CHECK(read32(*f.t, reg::kConfigGeneration) == 1);
  CHECK(read32(*f.t, reg::kInterruptStatus) == kInterruptConfigChange);
  CHECK(f.irq->get() == 1);
}

TEST_CASE("MmioState save -> restore round trip") {
  Fixture f;
  REQUIRE(negotiate(*f.t, kVersion1 | kFeatureX) == kAllButDriverOk);
  f.setup_both_queues();
  driver_ok(*f.t);
  write32(*f.t, reg::kQueueNotify, 0);  // leaves InterruptStatus bit 0 set
  write32(*f.t, reg::kQueueSel, 1);
  const MmioState s = f.t->save();
  CHECK(s.activated);
  CHECK(s.acked_features == (kVersion1 | kFeatureX));
  CHECK(s.interrupt_status == kInterruptUsedBuffer);
  REQUIRE(s.queues.size() == 2);
  CHECK(s.queues[1].desc_table == kQ1Desc);

  auto dev = std::make_unique<FakeDevice>();
  FakeDevice* fake = dev.get();
  auto r = MmioTransport::restore(f.d.mem, std::move(dev), f.irq, s);
  CHECK(r->save() == s);
  CHECK(fake->activations == 1);
  CHECK(fake->acked == s.acked_features);
  CHECK(read32(*r, reg::kQueueSel) == 0);  // QueueSel is write-only: reads as unknown (0)
  CHECK(read32(*r, reg::kQueueNum) == 16);  // QueueSel 1 restored
  write32(*r, reg::kQueueNotify, 1);
  CHECK(fake->processed == std::vector<std::size_t>{1});

  MmioState bad = s;
  bad.queues.pop_back();
  CHECK_THROWS_AS(MmioTransport::restore(f.d.mem, std::make_unique<FakeDevice>(), f.irq, bad), snapfaas::common::Error);
  bad = s;
  bad.queues[0].used_ring = FakeDriver::kMemSize;
  CHECK_THROWS_AS(MmioTransport::restore(f.d.mem, std::make_unique<FakeDevice>(), f.irq, bad), snapfaas::common::Error);
  bad = s;
  bad.acked_features |= 1ull << 9;
  CHECK_THROWS_AS(MmioTransport::restore(f.d.mem, std::make_unique<FakeDevice>(), f.irq, bad), snapfaas::common::Error);
  bad = s;
  bad.device_status = kStatusAcknowledge;
  CHECK_THROWS_AS(MmioTransport::restore(f.d.mem, std::make_unique<FakeDevice>(), f.irq, bad), snapfaas::common::Error);
}

TEST_CASE("a guest repeating refused register writes gets a burst of log lines per kind, not one per write") {
  // Guest-triggered warnings are rate-limited per call site (common/log_limit.h): 10^4 of each
  // kind of refused write cost at most a burst and one line per second.
  snapfaas::test::LogCapture capture;
  Fixture f;
  constexpr int kWrites = 10'000;
  constexpr std::size_t kMost = snapfaas::common::LogLimit::kBurst + 2;
  for (int i = 0; i < kWrites; ++i) {
    write32(*f.t, reg::kQueueSel, 99);
    write32(*f.t, reg::kQueueNum, 8);  // QueueSel out of range
    write32(*f.t, reg::kDriverFeatures, 1);  // before DRIVER
    write32(*f.t, reg::kStatus, kStatusAcknowledge);
    write32(*f.t, reg::kStatus, kStatusDriver);  // clears ACKNOWLEDGE: refused
    write32(*f.t, reg::kStatus, 0);
  }
  INFO(capture.text().substr(0, 2000));
  CHECK(capture.lines_with("QueueSel 99 out of range") >= 1);
  CHECK(capture.lines_with("QueueSel 99 out of range") <= kMost);
  CHECK(capture.lines_with("DriverFeatures written in status") <= kMost);
  CHECK(capture.lines_with("clears bits") <= kMost);
  CHECK(capture.lines_with("virtio-mmio") <= 4 * kMost);
}
