// MmioTransport: the virtio-mmio transport, version 2 (virtio 1.x §4.2.2), as a BusDevice in a
// 4 KiB MMIO window. Owns feature negotiation, queue setup and the device status state machine.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "runner/devices/bus.h"
#include "runner/devices/interrupt.h"
#include "runner/devices/virtio/mmio_state.h"
#include "runner/devices/virtio/queue.h"
#include "runner/devices/virtio/virtio_device.h"
#include "runner/devices/virtio/virtio_interrupt.h"
#include "runner/memory/guest_memory.h"

namespace snapfaas::runner::virtio {

/// Size of one virtio-mmio window on the MMIO bus.
inline constexpr std::uint64_t kMmioWindowSize = 0x1000;

/// Device status bits (virtio 1.x §2.1).
inline constexpr std::uint32_t kStatusAcknowledge = 1;
inline constexpr std::uint32_t kStatusDriver = 2;
inline constexpr std::uint32_t kStatusDriverOk = 4;
inline constexpr std::uint32_t kStatusFeaturesOk = 8;
inline constexpr std::uint32_t kStatusDeviceNeedsReset = 64;
inline constexpr std::uint32_t kStatusFailed = 128;

/// Register offsets of the virtio-mmio layout (§4.2.2).
namespace reg {
inline constexpr std::uint64_t kMagicValue = 0x000;
inline constexpr std::uint64_t kVersion = 0x004;
inline constexpr std::uint64_t kDeviceId = 0x008;
inline constexpr std::uint64_t kVendorId = 0x00c;
inline constexpr std::uint64_t kDeviceFeatures = 0x010;
inline constexpr std::uint64_t kDeviceFeaturesSel = 0x014;
inline constexpr std::uint64_t kDriverFeatures = 0x020;
inline constexpr std::uint64_t kDriverFeaturesSel = 0x024;
inline constexpr std::uint64_t kQueueSel = 0x030;
inline constexpr std::uint64_t kQueueNumMax = 0x034;
inline constexpr std::uint64_t kQueueNum = 0x038;
inline constexpr std::uint64_t kQueueReady = 0x044;
inline constexpr std::uint64_t kQueueNotify = 0x050;
inline constexpr std::uint64_t kInterruptStatus = 0x060;
inline constexpr std::uint64_t kInterruptAck = 0x064;
inline constexpr std::uint64_t kStatus = 0x070;
inline constexpr std::uint64_t kQueueDescLow = 0x080;
inline constexpr std::uint64_t kQueueDescHigh = 0x084;
inline constexpr std::uint64_t kQueueDriverLow = 0x090;
inline constexpr std::uint64_t kQueueDriverHigh = 0x094;
inline constexpr std::uint64_t kQueueDeviceLow = 0x0a0;
inline constexpr std::uint64_t kQueueDeviceHigh = 0x0a4;
inline constexpr std::uint64_t kConfigGeneration = 0x0fc;
inline constexpr std::uint64_t kConfig = 0x100;
}  // namespace reg

inline constexpr std::uint32_t kMmioMagic = 0x74726976;  // "virt"
inline constexpr std::uint32_t kMmioVersion = 2;
inline constexpr std::uint32_t kMmioVendorId = 0x53464153;  // "SAFS"

/// The kernel command-line fragment announcing a device: "virtio_mmio.device=4K@0x<base>:<irq>"
/// (Linux drivers/virtio/virtio_mmio.c, CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES).
[[nodiscard]] std::string mmio_kernel_arg(std::uint64_t base, std::uint32_t irq);

/// One virtio-mmio window. read()/write() come from any vCPU thread and are serialised by an
/// internal mutex; queue processing runs inline on the vCPU that wrote QueueNotify. `mem` must
/// outlive the transport.
class MmioTransport final : public BusDevice {
 public:
  /// `irq` is the guest line of this window (may be null in tests). `device` must offer
  /// VIRTIO_F_VERSION_1.
  MmioTransport(const GuestMemory& mem, std::unique_ptr<VirtioDevice> device, std::shared_ptr<Interrupt> irq);
  ~MmioTransport() override;
  MmioTransport(const MmioTransport&) = delete;
  MmioTransport& operator=(const MmioTransport&) = delete;

  void read(std::uint64_t offset, std::span<std::uint8_t> data) noexcept override;
  void write(std::uint64_t offset, std::span<const std::uint8_t> data) noexcept override;

  /// Current Status register.
  [[nodiscard]] std::uint32_t status() const;
  /// Whether the device was activated by DRIVER_OK (and not reset since).
  [[nodiscard]] bool activated() const;
  /// The device (for its own save()). Do not call its methods while the guest runs.
  [[nodiscard]] VirtioDevice& device() const noexcept { return *device_; }
  /// Host-side config change: bumps ConfigGeneration and raises the config interrupt.
  void notify_config_change() noexcept;

  /// Snapshot of registers and queues. Take it with the vCPUs paused.
  [[nodiscard]] MmioState save() const;
  /// Rebuilds a transport (and re-activates `device` if the state says it was active). Throws
  /// common::Error when the state does not fit the device or guest memory.
  static std::unique_ptr<MmioTransport> restore(const GuestMemory& mem, std::unique_ptr<VirtioDevice> device,
                                                std::shared_ptr<Interrupt> irq, const MmioState& state);

 private:
  [[nodiscard]] std::uint32_t read_register(std::uint64_t offset) noexcept;
  void write_register(std::uint64_t offset, std::uint32_t value) noexcept;
  void write_status(std::uint32_t value) noexcept;
  void write_queue_field(std::uint64_t offset, std::uint32_t value) noexcept;
  [[nodiscard]] bool try_activate() noexcept;
  void fail_device(const char* why) noexcept;
  void reset_locked() noexcept;
  [[nodiscard]] Queue* selected_queue() noexcept;

  mutable std::mutex mu_;
  const GuestMemory& mem_;
  std::unique_ptr<VirtioDevice> device_;
  std::shared_ptr<VirtioInterrupt> irq_;
  std::vector<Queue> queues_;
  std::uint32_t status_ = 0;
  std::uint32_t device_features_sel_ = 0;
  std::uint32_t driver_features_sel_ = 0;
  std::uint64_t acked_features_ = 0;
  std::uint32_t queue_sel_ = 0;
  std::uint32_t config_generation_ = 0;
  bool activated_ = false;
};

}  // namespace snapfaas::runner::virtio
