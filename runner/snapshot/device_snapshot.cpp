// capture_devices / restore_devices: the Vmm's Linux devices to and from DeviceStates.
#include "runner/snapshot/device_snapshot.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "common/error.h"
#include "runner/devices/legacy/i8042.h"
#include "runner/devices/legacy/serial.h"
#include "runner/devices/virtio/block/block.h"
#include "runner/devices/virtio/mmio.h"
#include "runner/devices/virtio/net/net.h"
#include "runner/devices/virtio/net/net_spec.h"
#include "runner/kvm/irqfd_interrupt.h"
#include "runner/memory/guest_layout.h"

namespace snapfaas::runner::snapshot {

namespace {

const virtio::block::Block& block_of(const BlockSlot& slot) {
  // The Vmm only puts Block devices behind its disk transports.
  const auto* block = dynamic_cast<const virtio::block::Block*>(&slot.transport->device());
  if (block == nullptr) throw common::Error("snapshot: disk " + slot.role + " is not a virtio-blk device");
  return *block;
}

/// The image backing a restored disk (a new descriptor): `appfs` for the app disk when given,
/// else the VM's own device of that role (built from --rootfs / --appfs). Never a path of the
/// snapshot's.
common::UniqueFd image_for(const VmmDevices& devices, const std::string& role, const AppImage& appfs,
                           std::string& label) {
  if (role == "appfs" && !appfs.empty()) {
    label = appfs.path;
    common::UniqueFd fd(::fcntl(appfs.fd, F_DUPFD_CLOEXEC, 0));
    if (!fd) throw common::sys_error("snapshot restore: app image " + appfs.path + ": dup");
    return fd;
  }
  for (const BlockSlot& slot : devices.blocks) {
    if (slot.role != role) continue;
    const auto& block = block_of(slot);
    label = block.save().path;
    return block.dup_image();
  }
  throw common::Error("snapshot restore: the snapshot has a disk '" + role + "' the VM has no image for (--" + role +
                      (role == "appfs" ? " or the function's appfs" : "") + "): a snapshot never names its own images");
}

bool in_device_window(std::uint64_t mmio_base) {
  return mmio_base >= layout::kVirtioMmioBase && mmio_base < layout::kVirtioMmioBase + 64 * layout::kVirtioMmioSize &&
         (mmio_base - layout::kVirtioMmioBase) % layout::kVirtioMmioSize == 0;
}

/// Stands where a device the VM was built with used to be when the snapshot has none there: reads
/// as all-ones (virtio-mmio magic 0xffffffff: no device), ignores writes.
class AbsentDevice final : public BusDevice {
 public:
  void read(std::uint64_t, std::span<std::uint8_t> data) noexcept override { std::fill(data.begin(), data.end(), 0xff); }
  void write(std::uint64_t, std::span<const std::uint8_t>) noexcept override {}
};

/// Rebuilds the virtio-net devices of a snapshot. The VM's own devices (--network) pair with the
/// snapshot's in order: the i-th hands its tap to the i-th restored device (a tap takes one fd),
/// wherever the snapshot had it (a pre-spawned VM has no app disk yet, so its device sits one
/// MMIO slot lower than in the snapshot). A snapshot device without one is an error: the tap name
/// in a snapshot is never opened. The VM's devices beyond the snapshot's are left out
/// (restore_devices takes them off the bus): the guest never saw them, so a function whose
/// snapshot has no network device gets none on a runner started with --network. The MAC stays
/// the snapshot's: the guest read it at boot.
std::vector<NetSlot> restore_nets(Vmm& vmm, const std::vector<NetDeviceState>& saved_nets) {
  VmmDevices& d = vmm.devices();
  std::vector<NetSlot> nets;
  for (std::size_t i = 0; i < saved_nets.size(); ++i) {
    const NetDeviceState& saved = saved_nets[i];
    if (!in_device_window(saved.mmio_base)) {
      throw common::Error("snapshot restore: network device: MMIO address outside the device window");
    }
    NetSlot* existing = i < d.nets.size() ? &d.nets[i] : nullptr;
    if (!vmm.config().network.empty()) {
      const virtio::net::NetConfig asked = virtio::net::parse_network_spec(vmm.config().network);
      if (asked.mac != saved.net.mac) {
        spdlog::warn("snapshot restore: --network MAC {} ignored: the guest keeps the snapshot's {}",
                     virtio::net::format_mac(asked.mac), virtio::net::format_mac(saved.net.mac));
      }
    }
    if (existing == nullptr) {
      throw common::Error("snapshot restore: the snapshot has a network device, the VM has none (--network): a "
                          "snapshot never names its own tap");
    }
    auto device = virtio::net::Net::restore(saved.net, existing->net->detach_tap());
    // After lock-down its receive thread starts filtered like the one it replaces (else run() starts it).
    if (vmm.device_threads_started()) device->start_rx(vmm.net_rx_thread_init());
    NetSlot slot{saved.mmio_base, saved.irq, nullptr, nullptr, device.get()};
    slot.interrupt = existing != nullptr && existing->irq == saved.irq
                         ? existing->interrupt
                         : std::make_shared<IrqFdInterrupt>(vmm.vm(), saved.irq);
    slot.transport = virtio::MmioTransport::restore(vmm.memory(), std::move(device), slot.interrupt, saved.transport);
    nets.push_back(std::move(slot));
  }
  if (d.nets.size() > saved_nets.size()) {
    spdlog::info("snapshot restore: the snapshot has {} network device(s), the VM {} (--network): the others are "
                 "left out",
                 saved_nets.size(), d.nets.size());
  }
  return nets;
}

}  // namespace

DeviceStates capture_devices(Vmm& vmm) {
  DeviceStates out;
  VmmDevices& d = vmm.devices();
  if (d.serial) out.serial = d.serial->save();
  if (d.i8042) out.i8042 = d.i8042->save();
  for (const BlockSlot& slot : d.blocks) {
    out.blocks.push_back({slot.mmio_base, slot.irq, slot.transport->save(), block_of(slot).save()});
  }
  for (const NetSlot& slot : d.nets) {
    out.nets.push_back({slot.mmio_base, slot.irq, slot.transport->save(), slot.net->save()});
  }
  return out;
}

void restore_devices(Vmm& vmm, const DeviceStates& states, const AppImage& appfs) {
  VmmDevices& d = vmm.devices();
  if (vmm.ring3()) {
    if (states.serial || states.i8042 || !states.blocks.empty() || !states.nets.empty()) {
      throw common::Error("snapshot restore: the snapshot has Linux devices, the VM is a ring-3 guest");
    }
    return;
  }
  // Build everything first, so a bad image leaves the VM as it was.
  std::shared_ptr<Serial> serial;
  if (states.serial) serial = Serial::restore(d.serial_irq, vmm.console_fd(), *states.serial);
  std::shared_ptr<I8042> i8042;
  if (states.i8042) i8042 = I8042::restore(vmm.reset_handler(), nullptr, *states.i8042);

  std::vector<BlockSlot> blocks;
  std::vector<std::size_t> resized;
  for (const BlockDeviceState& saved : states.blocks) {
    const virtio::block::BlockState& b = saved.block;
    if (b.id != "rootfs" && b.id != "appfs") throw common::Error("snapshot restore: unknown disk '" + b.id + "'");
    auto existing = std::find_if(d.blocks.begin(), d.blocks.end(),
                                 [&](const BlockSlot& s) { return s.mmio_base == saved.mmio_base; });
    if (existing != d.blocks.end() && existing->irq != saved.irq) {
      throw common::Error("snapshot restore: disk " + b.id + " at MMIO " + std::to_string(saved.mmio_base) +
                          " has IRQ " + std::to_string(saved.irq) + " in the snapshot, " +
                          std::to_string(existing->irq) + " here");
    }
    const bool in_window = saved.mmio_base >= layout::kVirtioMmioBase &&
                           saved.mmio_base < layout::kVirtioMmioBase + 64 * layout::kVirtioMmioSize &&
                           (saved.mmio_base - layout::kVirtioMmioBase) % layout::kVirtioMmioSize == 0;
    if (!in_window) throw common::Error("snapshot restore: disk " + b.id + ": MMIO address outside the device window");
    // Read-only as the configuration says (the app disk always); a snapshot may only be stricter.
    const bool config_read_only = b.id == "appfs" || !vmm.config().rootfs_rw;
    if (!b.read_only && config_read_only) {
      throw common::Error("snapshot restore: disk " + b.id + " is read-write in the snapshot, read-only here" +
                          (b.id == "rootfs" ? " (no --rootfs_rw)" : ""));
    }
    virtio::block::BlockConfig cfg{{}, b.read_only || config_read_only, vmm.config().direct_io, b.id};
    common::UniqueFd image = image_for(d, b.id, appfs, cfg.path);
    auto device = std::make_unique<virtio::block::Block>(cfg, std::move(image));
    if (device->capacity_sectors() != b.capacity_sectors) {
      if (b.id != "appfs") {
        throw common::Error("snapshot restore: " + cfg.path + ": capacity " + std::to_string(device->capacity_sectors()) +
                            " sectors, the snapshot's root disk had " + std::to_string(b.capacity_sectors));
      }
      resized.push_back(blocks.size());
    }
    BlockSlot slot{b.id, saved.mmio_base, saved.irq, nullptr, nullptr};
    slot.interrupt = existing != d.blocks.end() ? existing->interrupt
                                                : std::make_shared<IrqFdInterrupt>(vmm.vm(), saved.irq);
    slot.transport = virtio::MmioTransport::restore(vmm.memory(), std::move(device), slot.interrupt, saved.transport);
    blocks.push_back(std::move(slot));
  }
  for (const BlockSlot& old : d.blocks) {
    const bool kept = std::any_of(blocks.begin(), blocks.end(), [&](const BlockSlot& s) { return s.mmio_base == old.mmio_base; });
    if (!kept) throw common::Error("snapshot restore: the VM has a disk (" + old.role + ") the snapshot does not");
  }

  std::vector<NetSlot> nets = restore_nets(vmm, states.nets);

  if (serial) {
    d.serial = std::move(serial);
    vmm.pio().replace(d.serial, kSerialPort, kSerialPortCount);
  }
  if (i8042) {
    d.i8042 = std::move(i8042);
    vmm.pio().replace(d.i8042, kI8042Port, kI8042PortCount);
  }
  for (const BlockSlot& s : blocks) vmm.mmio().replace(s.transport, s.mmio_base, layout::kVirtioMmioSize);
  d.blocks = std::move(blocks);
  for (const NetSlot& s : nets) vmm.mmio().replace(s.transport, s.mmio_base, layout::kVirtioMmioSize);
  // The VM's network devices where the snapshot has nothing go off the bus.
  for (const NetSlot& old : d.nets) {
    const auto at = [&](const auto& s) { return s.mmio_base == old.mmio_base; };
    if (std::none_of(d.blocks.begin(), d.blocks.end(), at) && std::none_of(nets.begin(), nets.end(), at)) {
      vmm.mmio().replace(std::make_shared<AbsentDevice>(), old.mmio_base, layout::kVirtioMmioSize);
    }
  }
  d.nets = std::move(nets);
  for (std::size_t i : resized) {
    spdlog::info("snapshot restore: {} is {} sectors (snapshot: other size): config change sent", d.blocks[i].role,
                 block_of(d.blocks[i]).capacity_sectors());
    d.blocks[i].transport->notify_config_change();
  }
}

}  // namespace snapfaas::runner::snapshot
