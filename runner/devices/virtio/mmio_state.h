// MmioState: the plain snapshot state of one virtio-mmio transport (registers and queues; the
// device's own state is saved by the device).
#pragma once

#include <cstdint>
#include <vector>

#include "runner/devices/virtio/queue_state.h"

namespace snapfaas::runner::virtio {

/// Saved by MmioTransport::save(), validated by MmioTransport::restore().
struct MmioState {
  std::uint32_t device_status = 0;
  std::uint32_t device_features_sel = 0;
  std::uint32_t driver_features_sel = 0;
  std::uint64_t acked_features = 0;
  std::uint32_t queue_sel = 0;
  std::uint32_t interrupt_status = 0;
  std::uint32_t config_generation = 0;
  bool activated = false;
  std::vector<QueueState> queues;

  friend bool operator==(const MmioState&, const MmioState&) = default;
};

}  // namespace snapfaas::runner::virtio
