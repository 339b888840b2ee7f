// VirtioDevice: what a virtio device (block, ...) implements for the virtio-mmio transport.
// The transport owns feature negotiation, queue configuration and the status state machine.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "runner/devices/virtio/queue.h"
#include "runner/devices/virtio/virtio_interrupt.h"
#include "runner/memory/guest_memory.h"

namespace snapfaas::runner::virtio {

/// Device-independent feature bits (virtio 1.x §6).
inline constexpr unsigned kFeatureVersion1 = 32;  // VIRTIO_F_VERSION_1

/// Device IDs (virtio 1.x §5).
inline constexpr std::uint32_t kDeviceTypeBlock = 2;

/// A virtio device behind a transport. Every call comes from the transport, under its lock, so an
/// implementation needs no locking of its own for these calls.
class VirtioDevice {
 public:
  virtual ~VirtioDevice() = default;

  /// Device ID (§5), e.g. kDeviceTypeBlock.
  [[nodiscard]] virtual std::uint32_t device_type() const noexcept = 0;
  /// Offered feature bits; must include VIRTIO_F_VERSION_1.
  [[nodiscard]] virtual std::uint64_t features() const noexcept = 0;
  /// Maximum size of each queue; the span's length is the number of queues.
  [[nodiscard]] virtual std::span<const std::uint16_t> queue_max_sizes() const noexcept = 0;
  /// Reads the device-specific configuration space (offset from 0x100). Bytes past the end of
  /// the config read as zero.
  virtual void read_config(std::uint64_t offset, std::span<std::uint8_t> data) const noexcept = 0;
  /// Writes the device-specific configuration space; read-only fields are ignored.
  virtual void write_config(std::uint64_t offset, std::span<const std::uint8_t> data) noexcept = 0;

  /// Starts the device on DRIVER_OK. `queues` stays valid until reset(); `acked` are the
  /// negotiated features. Throws common::Error if the device cannot start (the transport then
  /// sets DEVICE_NEEDS_RESET).
  virtual void activate(const GuestMemory& mem, std::span<Queue> queues, std::uint64_t acked,
                        std::shared_ptr<VirtioInterrupt> irq) = 0;
  /// QueueNotify for queue `index` (< number of queues): processes the available chains inline and
  /// signals used buffers. Returns false if the queue is broken beyond a single bad chain (the
  /// transport then sets DEVICE_NEEDS_RESET).
  [[nodiscard]] virtual bool process_queue(std::size_t index) noexcept = 0;
  /// Status 0 written: drop the queues and interrupt handed over by activate().
  virtual void reset() noexcept = 0;
};

}  // namespace snapfaas::runner::virtio
