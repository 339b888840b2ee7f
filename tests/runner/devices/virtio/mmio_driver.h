// Register-level helpers acting as the guest's virtio-mmio driver (Linux virtio_mmio.c order).
#pragma once

#include <array>
#include <cstdint>
#include <cstring>

#include "runner/devices/virtio/mmio.h"
#include "tests/runner/devices/virtio/fake_driver.h"

namespace snapfaas::runner::virtio::test {

inline std::uint32_t read32(MmioTransport& t, std::uint64_t off) {
  std::array<std::uint8_t, 4> b{};
  t.read(off, b);
  std::uint32_t v;
  std::memcpy(&v, b.data(), 4);
  return v;
}

inline void write32(MmioTransport& t, std::uint64_t off, std::uint32_t v) {
  std::array<std::uint8_t, 4> b{};
  std::memcpy(b.data(), &v, 4);
  t.write(off, b);
}

/// ACKNOWLEDGE, DRIVER, write `features`, FEATURES_OK; returns the Status read back.
inline std::uint32_t negotiate(MmioTransport& t, std::uint64_t features) {
  write32(t, reg::kStatus, kStatusAcknowledge);
  write32(t, reg::kStatus, kStatusAcknowledge | kStatusDriver);
  write32(t, reg::kDriverFeaturesSel, 0);
  write32(t, reg::kDriverFeatures, static_cast<std::uint32_t>(features));
  write32(t, reg::kDriverFeaturesSel, 1);
  write32(t, reg::kDriverFeatures, static_cast<std::uint32_t>(features >> 32));
  write32(t, reg::kStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk);
  return read32(t, reg::kStatus);
}

/// Programs queue `index` with the given size and ring addresses and marks it ready.
inline void setup_queue(MmioTransport& t, std::uint32_t index, std::uint32_t size, std::uint64_t desc,
                        std::uint64_t avail, std::uint64_t used) {
  write32(t, reg::kQueueSel, index);
  write32(t, reg::kQueueNum, size);
  write32(t, reg::kQueueDescLow, static_cast<std::uint32_t>(desc));
  write32(t, reg::kQueueDescHigh, static_cast<std::uint32_t>(desc >> 32));
  write32(t, reg::kQueueDriverLow, static_cast<std::uint32_t>(avail));
  write32(t, reg::kQueueDriverHigh, static_cast<std::uint32_t>(avail >> 32));
  write32(t, reg::kQueueDeviceLow, static_cast<std::uint32_t>(used));
  write32(t, reg::kQueueDeviceHigh, static_cast<std::uint32_t>(used >> 32));
  write32(t, reg::kQueueReady, 1);
}

/// Sets up queue 0 on the FakeDriver layout.
inline void setup_queue(MmioTransport& t, const FakeDriver& d) {
  setup_queue(t, 0, d.size(), FakeDriver::kDesc, FakeDriver::kAvail, FakeDriver::kUsed);
}

inline void driver_ok(MmioTransport& t) {
  write32(t, reg::kStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk);
}

}  // namespace snapfaas::runner::virtio::test
