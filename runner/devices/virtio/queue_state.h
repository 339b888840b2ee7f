// QueueState: the plain, snapshot-able state of one split virtqueue (sizes, ring addresses, and
// the device's private indices). No pointers, no fds.
#pragma once

#include <cstdint>

namespace snapfaas::runner::virtio {

/// Saved by Queue::save(), validated by Queue::restore().
struct QueueState {
  std::uint16_t max_size = 0;        ///< QueueNumMax offered by the device
  std::uint16_t size = 0;            ///< QueueNum chosen by the driver
  bool ready = false;                ///< QueueReady
  std::uint64_t desc_table = 0;      ///< GPA of the descriptor table (QueueDesc)
  std::uint64_t avail_ring = 0;      ///< GPA of the driver area (QueueDriver)
  std::uint64_t used_ring = 0;       ///< GPA of the device area (QueueDevice)
  std::uint16_t next_avail = 0;      ///< next avail-ring slot the device will read
  std::uint16_t next_used = 0;       ///< next used-ring slot (== used idx the device published)
  std::uint16_t signalled_used = 0;  ///< used idx at the last interrupt (VIRTIO_RING_F_EVENT_IDX)
  bool event_idx = false;            ///< VIRTIO_RING_F_EVENT_IDX negotiated
  bool indirect = false;             ///< VIRTIO_RING_F_INDIRECT_DESC negotiated

  friend bool operator==(const QueueState&, const QueueState&) = default;
};

}  // namespace snapfaas::runner::virtio
