// MmioTransport: virtio-mmio v2 register protocol, status state machine and activation checks.
#include "runner/devices/virtio/mmio.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstring>
#include <exception>

#include "common/error.h"
#include "common/log_limit.h"

namespace snapfaas::runner::virtio {
namespace {

constexpr std::uint64_t kVersion1Bit = 1ull << kFeatureVersion1;

std::uint64_t set_half(std::uint64_t v, std::uint32_t half, std::uint32_t value) noexcept {
  const unsigned shift = half == 0 ? 0 : 32;
  return (v & ~(0xffffffffull << shift)) | (std::uint64_t{value} << shift);
}

}  // namespace

std::string mmio_kernel_arg(std::uint64_t base, std::uint32_t irq) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "virtio_mmio.device=4K@0x%llx:%u", static_cast<unsigned long long>(base), irq);
  return buf;
}

MmioTransport::MmioTransport(const GuestMemory& mem, std::unique_ptr<VirtioDevice> device,
                             std::shared_ptr<Interrupt> irq)
    : mem_(mem), device_(std::move(device)), irq_(std::make_shared<VirtioInterrupt>(std::move(irq))) {
  if (!device_) throw common::Error("virtio-mmio transport: no device");
  if ((device_->features() & kVersion1Bit) == 0) {
    throw common::Error("virtio-mmio transport: device type " + std::to_string(device_->device_type()) +
                        " does not offer VIRTIO_F_VERSION_1");
  }
  for (std::uint16_t max : device_->queue_max_sizes()) {
    if (max == 0 || max > kMaxQueueSize || (max & (max - 1)) != 0) {
      throw common::Error("virtio-mmio transport: bad queue max size " + std::to_string(max));
    }
    queues_.emplace_back(max);
  }
}

MmioTransport::~MmioTransport() {
  if (activated_) device_->reset();
}

std::uint32_t MmioTransport::status() const {
  std::lock_guard lock(mu_);
  return status_;
}

bool MmioTransport::activated() const {
  std::lock_guard lock(mu_);
  return activated_;
}

void MmioTransport::notify_config_change() noexcept {
  std::lock_guard lock(mu_);
  ++config_generation_;
  irq_->signal_config();
}

void MmioTransport::read(std::uint64_t offset, std::span<std::uint8_t> data) noexcept {
  std::lock_guard lock(mu_);
  if (offset >= reg::kConfig) {
    device_->read_config(offset - reg::kConfig, data);
    return;
  }
  if (data.size() != 4 || offset % 4 != 0) {  // §4.2.2.2: registers are 32-bit, aligned
    SNAPFAAS_LIMITED_LOG(spdlog::level::debug, "virtio-mmio: {}-byte read at {:#x} ignored", data.size(), offset);
    std::memset(data.data(), 0, data.size());
    return;
  }
  const std::uint32_t v = read_register(offset);
  std::memcpy(data.data(), &v, 4);
}

void MmioTransport::write(std::uint64_t offset, std::span<const std::uint8_t> data) noexcept {
  std::lock_guard lock(mu_);
  if (offset >= reg::kConfig) {
    device_->write_config(offset - reg::kConfig, data);
    return;
  }
  if (data.size() != 4 || offset % 4 != 0) {
    SNAPFAAS_LIMITED_LOG(spdlog::level::debug, "virtio-mmio: {}-byte write at {:#x} ignored", data.size(), offset);
    return;
  }
  std::uint32_t v;
  std::memcpy(&v, data.data(), 4);
  write_register(offset, v);
}

Queue* MmioTransport::selected_queue() noexcept {
  return queue_sel_ < queues_.size() ? &queues_[queue_sel_] : nullptr;
}

std::uint32_t MmioTransport::read_register(std::uint64_t offset) noexcept {
  const Queue* q = selected_queue();
  switch (offset) {
    case reg::kMagicValue: return kMmioMagic;
    case reg::kVersion: return kMmioVersion;
    case reg::kDeviceId: return device_->device_type();
    case reg::kVendorId: return kMmioVendorId;
    case reg::kDeviceFeatures:
      if (device_features_sel_ > 1) return 0;
      return static_cast<std::uint32_t>(device_->features() >> (32 * device_features_sel_));
    case reg::kQueueNumMax: return q ? q->max_size() : 0;
    case reg::kQueueNum: return q ? q->size() : 0;
    case reg::kQueueReady: return q && q->ready() ? 1 : 0;
    case reg::kQueueDescLow: return q ? static_cast<std::uint32_t>(q->desc_table()) : 0;
    case reg::kQueueDescHigh: return q ? static_cast<std::uint32_t>(q->desc_table() >> 32) : 0;
    case reg::kQueueDriverLow: return q ? static_cast<std::uint32_t>(q->avail_ring()) : 0;
    case reg::kQueueDriverHigh: return q ? static_cast<std::uint32_t>(q->avail_ring() >> 32) : 0;
    case reg::kQueueDeviceLow: return q ? static_cast<std::uint32_t>(q->used_ring()) : 0;
    case reg::kQueueDeviceHigh: return q ? static_cast<std::uint32_t>(q->used_ring() >> 32) : 0;
    case reg::kInterruptStatus: return irq_->status();
    case reg::kStatus: return status_;
    case reg::kConfigGeneration: return config_generation_;
    default:
      SNAPFAAS_LIMITED_LOG(spdlog::level::debug, "virtio-mmio: read of unknown register {:#x}", offset);
      return 0;
  }
}

void MmioTransport::write_register(std::uint64_t offset, std::uint32_t value) noexcept {
  switch (offset) {
    case reg::kDeviceFeaturesSel: device_features_sel_ = value; return;
    case reg::kDriverFeaturesSel: driver_features_sel_ = value; return;
    case reg::kDriverFeatures:
      // §3.1.1: features are written after DRIVER and before FEATURES_OK.
      if ((status_ & kStatusDriver) == 0 || (status_ & (kStatusFeaturesOk | kStatusFailed)) != 0) {
        SNAPFAAS_LIMITED_LOG(spdlog::level::warn, "virtio-mmio: DriverFeatures written in status {:#x}; ignored", status_);
        return;
      }
      if (driver_features_sel_ <= 1) acked_features_ = set_half(acked_features_, driver_features_sel_, value);
      return;
    case reg::kQueueSel: queue_sel_ = value; return;
    case reg::kQueueNum:
    case reg::kQueueReady:
    case reg::kQueueDescLow:
    case reg::kQueueDescHigh:
    case reg::kQueueDriverLow:
    case reg::kQueueDriverHigh:
    case reg::kQueueDeviceLow:
    case reg::kQueueDeviceHigh: write_queue_field(offset, value); return;
    case reg::kQueueNotify:
      if (!activated_ || (status_ & kStatusDeviceNeedsReset) != 0) {
        SNAPFAAS_LIMITED_LOG(spdlog::level::debug, "virtio-mmio: notify of queue {} while not active", value);
        return;
      }
      if (value >= queues_.size()) {
        SNAPFAAS_LIMITED_LOG(spdlog::level::warn, "virtio-mmio: notify of nonexistent queue {}", value);
        return;
      }
      if (!device_->process_queue(value)) fail_device("queue broken");
      return;
    case reg::kInterruptAck: irq_->ack(value); return;
    case reg::kStatus: write_status(value); return;
    default: SNAPFAAS_LIMITED_LOG(spdlog::level::debug, "virtio-mmio: write of {:#x} to unknown register {:#x}", value, offset); return;
  }
}

void MmioTransport::write_queue_field(std::uint64_t offset, std::uint32_t value) noexcept {
  Queue* q = selected_queue();
  if (q == nullptr) {
    SNAPFAAS_LIMITED_LOG(spdlog::level::warn, "virtio-mmio: queue register {:#x} written with QueueSel {} out of range", offset, queue_sel_);
    return;
  }
  if (offset == reg::kQueueReady && value == 0) {  // Linux checks a queue reads back as not ready
    if (!activated_) q->set_ready(false);
    return;
  }
  // §4.2.3.2: queues are configured after FEATURES_OK and before DRIVER_OK.
  if ((status_ & (kStatusFeaturesOk | kStatusDriverOk | kStatusFailed)) != kStatusFeaturesOk) {
    SNAPFAAS_LIMITED_LOG(spdlog::level::warn, "virtio-mmio: queue register {:#x} written in status {:#x}; ignored", offset, status_);
    return;
  }
  switch (offset) {
    case reg::kQueueNum:
      if (value == 0 || value > q->max_size()) {
        SNAPFAAS_LIMITED_LOG(spdlog::level::warn, "virtio-mmio: QueueNum {} outside 1..{}", value, q->max_size());
      }
      q->set_size(static_cast<std::uint16_t>(value > 0xffff ? 0 : value));  // checked at DRIVER_OK
      return;
    case reg::kQueueReady: q->set_ready(value == 1); return;
    case reg::kQueueDescLow: q->set_desc_table(set_half(q->desc_table(), 0, value)); return;
    case reg::kQueueDescHigh: q->set_desc_table(set_half(q->desc_table(), 1, value)); return;
    case reg::kQueueDriverLow: q->set_avail_ring(set_half(q->avail_ring(), 0, value)); return;
    case reg::kQueueDriverHigh: q->set_avail_ring(set_half(q->avail_ring(), 1, value)); return;
    case reg::kQueueDeviceLow: q->set_used_ring(set_half(q->used_ring(), 0, value)); return;
    case reg::kQueueDeviceHigh: q->set_used_ring(set_half(q->used_ring(), 1, value)); return;
    default: return;
  }
}

void MmioTransport::write_status(std::uint32_t value) noexcept {
  if (value == 0) {  // §4.2.2.1: writing zero resets the device
    reset_locked();
    return;
  }
  value &= ~kStatusDeviceNeedsReset;  // set by the device only
  const std::uint32_t current = status_ & ~kStatusDeviceNeedsReset;
  if ((current & ~value) != 0) {
    SNAPFAAS_LIMITED_LOG(spdlog::level::warn, "virtio-mmio: status {:#x} -> {:#x} clears bits; ignored", status_, value);
    return;
  }
  const std::uint32_t added = value & ~current;
  if (added & kStatusFailed) {
    status_ |= kStatusFailed;
    return;
  }
  // §3.1.1 driver initialisation order: ACKNOWLEDGE, DRIVER, FEATURES_OK, DRIVER_OK.
  std::uint32_t next = status_;
  if (added & kStatusAcknowledge) next |= kStatusAcknowledge;
  if ((added & kStatusDriver) && (next & kStatusAcknowledge)) next |= kStatusDriver;
  if ((added & kStatusFeaturesOk) && (next & kStatusDriver)) {
    const std::uint64_t offered = device_->features();
    if ((acked_features_ & ~offered) != 0 || (acked_features_ & kVersion1Bit) == 0) {
      // Leave FEATURES_OK clear: the driver re-reads Status and gives up (§3.1.1 step 6).
      SNAPFAAS_LIMITED_LOG(spdlog::level::warn, "virtio-mmio: driver features {:#x} refused (offered {:#x}, VERSION_1 required)",
                   acked_features_, offered);
    } else {
      next |= kStatusFeaturesOk;
      for (Queue& q : queues_) q.set_features(acked_features_);
    }
  }
  status_ = next;
  if ((added & kStatusDriverOk) && (status_ & kStatusFeaturesOk) && !activated_) {
    if (try_activate()) status_ |= kStatusDriverOk;
  }
  if ((added & ~status_) != 0) {
    SNAPFAAS_LIMITED_LOG(spdlog::level::warn, "virtio-mmio: status bits {:#x} refused in status {:#x}", added & ~status_, status_);
  }
}

bool MmioTransport::try_activate() noexcept {
  bool any_ready = false;
  for (std::size_t i = 0; i < queues_.size(); ++i) {
    if (!queues_[i].ready()) continue;
    any_ready = true;
    const std::string_view why = queues_[i].check(mem_);
    if (!why.empty()) {
      SNAPFAAS_LIMITED_LOG(spdlog::level::warn, "virtio-mmio: device type {} queue {}: {}", device_->device_type(), i, why);
      fail_device("bad queue configuration");
      return false;
    }
  }
  if (!any_ready) {
    fail_device("no queue ready");
    return false;
  }
  try {
    device_->activate(mem_, queues_, acked_features_, irq_);
  } catch (const std::exception& e) {
    SNAPFAAS_LIMITED_LOG(spdlog::level::err, "virtio-mmio: activating device type {}: {}", device_->device_type(), e.what());
    fail_device("activation failed");
    return false;
  }
  activated_ = true;
  return true;
}

void MmioTransport::fail_device(const char* why) noexcept {
  SNAPFAAS_LIMITED_LOG(spdlog::level::warn, "virtio-mmio: device type {} needs reset: {}", device_->device_type(), why);
  status_ |= kStatusDeviceNeedsReset;
  irq_->signal_config();  // §2.1.2: the device notifies a config change after setting NEEDS_RESET
}

void MmioTransport::reset_locked() noexcept {
  if (activated_) device_->reset();
  activated_ = false;
  for (Queue& q : queues_) q.reset();
  status_ = 0;
  device_features_sel_ = 0;
  driver_features_sel_ = 0;
  acked_features_ = 0;
  queue_sel_ = 0;
  irq_->set_status(0);
}

MmioState MmioTransport::save() const {
  std::lock_guard lock(mu_);
  MmioState s;
  s.device_status = status_;
  s.device_features_sel = device_features_sel_;
  s.driver_features_sel = driver_features_sel_;
  s.acked_features = acked_features_;
  s.queue_sel = queue_sel_;
  s.interrupt_status = irq_->status();
  s.config_generation = config_generation_;
  s.activated = activated_;
  for (const Queue& q : queues_) s.queues.push_back(q.save());
  return s;
}

std::unique_ptr<MmioTransport> MmioTransport::restore(const GuestMemory& mem, std::unique_ptr<VirtioDevice> device,
                                                      std::shared_ptr<Interrupt> irq, const MmioState& state) {
  auto t = std::make_unique<MmioTransport>(mem, std::move(device), std::move(irq));
  const std::string what = "restore virtio-mmio device type " + std::to_string(t->device_->device_type());
  if (state.queues.size() != t->queues_.size()) {
    throw common::Error(what + ": " + std::to_string(state.queues.size()) + " queues, device has " +
                        std::to_string(t->queues_.size()));
  }
  if ((state.acked_features & ~t->device_->features()) != 0) throw common::Error(what + ": acked features not offered");
  constexpr std::uint32_t kActive = kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk | kStatusDriverOk;
  if (state.activated && (state.device_status & kActive) != kActive) {
    throw common::Error(what + ": active without DRIVER_OK");
  }
  for (std::size_t i = 0; i < state.queues.size(); ++i) {
    if (state.queues[i].max_size != t->queues_[i].max_size()) throw common::Error(what + ": queue max size differs");
    t->queues_[i] = Queue::restore(mem, state.queues[i]);
  }
  t->status_ = state.device_status;
  t->device_features_sel_ = state.device_features_sel;
  t->driver_features_sel_ = state.driver_features_sel;
  t->acked_features_ = state.acked_features;
  t->queue_sel_ = state.queue_sel;
  t->config_generation_ = state.config_generation;
  t->irq_->set_status(state.interrupt_status & (kInterruptUsedBuffer | kInterruptConfigChange));
  if (state.activated) {
    t->device_->activate(mem, t->queues_, t->acked_features_, t->irq_);  // throws common::Error
    t->activated_ = true;
  }
  return t;
}

}  // namespace snapfaas::runner::virtio
