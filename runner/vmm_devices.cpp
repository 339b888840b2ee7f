// Vmm::attach_linux_devices: the legacy devices (8250 serial at 0x3f8/IRQ 4, i8042 reset) and one
// virtio-mmio block device per image, then virtio-net with --network (and eth0's ip= address), each
// announced on the kernel command line. Each is kept in devices_ for snapshots.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "runner/devices/legacy/i8042.h"
#include "runner/devices/legacy/serial.h"
#include "runner/devices/virtio/block/block.h"
#include "runner/devices/virtio/mmio.h"
#include "runner/devices/virtio/net/net.h"
#include "runner/devices/virtio/net/net_spec.h"
#include "common/error.h"
#include "runner/kvm/irqfd_interrupt.h"
#include "runner/loader/linux_loader.h"
#include "runner/memory/guest_layout.h"
#include "runner/vmm.h"

namespace snapfaas::runner {

std::function<void()> Vmm::reset_handler() {
  return [this] {
    spdlog::info("guest requested a reset through the i8042");
    request_stop(0);
  };
}

void Vmm::attach_linux_devices() {
  cmdline_ = kDefaultKernelArgs;
  devices_.serial_irq = std::make_shared<IrqFdInterrupt>(vm_, kSerialIrq);
  devices_.serial = std::make_shared<Serial>(devices_.serial_irq, console_fd());
  pio_.insert(devices_.serial, kSerialPort, kSerialPortCount);
  devices_.i8042 = std::make_shared<I8042>(reset_handler());
  pio_.insert(devices_.i8042, kI8042Port, kI8042PortCount);

  struct Disk {
    const std::string* path;
    const char* role;
    bool read_only;
  };
  const Disk disks[] = {{&config_.rootfs, "rootfs", !config_.rootfs_rw}, {&config_.appfs, "appfs", true}};
  std::uint64_t base = layout::kVirtioMmioBase;
  std::uint32_t irq = layout::kFirstVirtioIrq;
  for (const Disk& d : disks) {
    if (d.path->empty()) continue;
    virtio::block::BlockConfig cfg;
    cfg.path = *d.path;
    cfg.read_only = d.read_only;
    cfg.direct = config_.direct_io;
    cfg.id = d.role;
    BlockSlot slot{d.role, base, irq, std::make_shared<IrqFdInterrupt>(vm_, irq), nullptr};
    slot.transport = std::make_shared<virtio::MmioTransport>(memory_, std::make_unique<virtio::block::Block>(cfg),
                                                             slot.interrupt);
    mmio_.insert(slot.transport, base, layout::kVirtioMmioSize);
    devices_.blocks.push_back(std::move(slot));
    cmdline_.append(" ").append(virtio::mmio_kernel_arg(base, irq));
    base += layout::kVirtioMmioSize;
    ++irq;
  }
  if (!config_.network.empty()) {  // virtio-net after the disks; eth0 configured by the kernel (ip=)
    NetSlot slot{base, irq, std::make_shared<IrqFdInterrupt>(vm_, irq), nullptr, nullptr};
    auto net = std::make_unique<virtio::net::Net>(virtio::net::parse_network_spec(config_.network));
    slot.net = net.get();
    slot.transport = std::make_shared<virtio::MmioTransport>(memory_, std::move(net), slot.interrupt);
    mmio_.insert(slot.transport, base, layout::kVirtioMmioSize);
    devices_.nets.push_back(std::move(slot));
    cmdline_.append(" ").append(virtio::mmio_kernel_arg(base, irq));
    cmdline_.append(" ").append(virtio::net::ip_kernel_arg(virtio::net::parse_guest_address(config_.guest_address)));
  }
  if (!config_.rootfs.empty()) cmdline_ += config_.rootfs_rw ? " root=/dev/vda rw" : " root=/dev/vda ro";
  if (!config_.kernel_args.empty()) cmdline_.append(" ").append(config_.kernel_args);
}

void Vmm::attach_app_disk(common::UniqueFd image, const std::string& label) {
  if (ring3_) throw common::Error("app disk " + label + ": a ring-3 guest has no disks");
  std::uint64_t base = layout::kVirtioMmioBase;
  std::uint32_t irq = layout::kFirstVirtioIrq;
  for (const BlockSlot& b : devices_.blocks) {
    if (b.role == "appfs") throw common::Error("app disk " + label + ": the VM has one already");
    base = std::max(base, b.mmio_base + layout::kVirtioMmioSize);
    irq = std::max(irq, b.irq + 1);
  }
  for (const NetSlot& n : devices_.nets) {
    base = std::max(base, n.mmio_base + layout::kVirtioMmioSize);
    irq = std::max(irq, n.irq + 1);
  }
  virtio::block::BlockConfig cfg;
  cfg.path = label;
  cfg.read_only = true;
  cfg.direct = config_.direct_io;
  cfg.id = "appfs";
  std::string cmdline = cmdline_ + " " + virtio::mmio_kernel_arg(base, irq);
  auto device = std::make_unique<virtio::block::Block>(cfg, std::move(image));
  BlockSlot slot{"appfs", base, irq, std::make_shared<IrqFdInterrupt>(vm_, irq), nullptr};
  slot.transport = std::make_shared<virtio::MmioTransport>(memory_, std::move(device), slot.interrupt);
  rewrite_linux_cmdline(memory_, cmdline);  // first: throws before anything is attached
  mmio_.insert(slot.transport, base, layout::kVirtioMmioSize);
  devices_.blocks.push_back(std::move(slot));
  cmdline_ = std::move(cmdline);
  spdlog::info("app disk {} attached at MMIO {:#x} IRQ {}; Linux command line: {}", label, base, irq, cmdline_);
}

}  // namespace snapfaas::runner
