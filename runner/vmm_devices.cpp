// Vmm::attach_linux_devices: the legacy devices (8250 serial at 0x3f8/IRQ 4, i8042 reset) and one
// virtio-mmio block device per image, announced on the kernel command line.
#include <spdlog/spdlog.h>

#include "runner/devices/legacy/i8042.h"
#include "runner/devices/legacy/serial.h"
#include "runner/devices/virtio/block/block.h"
#include "runner/devices/virtio/mmio.h"
#include "runner/kvm/irqfd_interrupt.h"
#include "runner/memory/guest_layout.h"
#include "runner/vmm.h"

namespace snapfaas::runner {

void Vmm::attach_linux_devices() {
  cmdline_ = kDefaultKernelArgs;
  auto serial = std::make_shared<Serial>(std::make_shared<IrqFdInterrupt>(vm_, kSerialIrq),
                                         console_ ? console_.get() : STDOUT_FILENO);
  pio_.insert(serial, kSerialPort, kSerialPortCount);
  auto i8042 = std::make_shared<I8042>([this] {
    spdlog::info("guest requested a reset through the i8042");
    request_stop(0);
  });
  pio_.insert(i8042, kI8042Port, kI8042PortCount);

  struct Disk {
    const std::string* path;
    const char* id;
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
    cfg.id = d.id;
    auto device = std::make_unique<virtio::block::Block>(cfg);
    auto transport = std::make_shared<virtio::MmioTransport>(memory_, std::move(device),
                                                             std::make_shared<IrqFdInterrupt>(vm_, irq));
    mmio_.insert(transport, base, layout::kVirtioMmioSize);
    cmdline_.append(" ").append(virtio::mmio_kernel_arg(base, irq));
    base += layout::kVirtioMmioSize;
    ++irq;
  }
  if (!config_.rootfs.empty()) cmdline_ += config_.rootfs_rw ? " root=/dev/vda rw" : " root=/dev/vda ro";
  if (!config_.kernel_args.empty()) cmdline_.append(" ").append(config_.kernel_args);
}

}  // namespace snapfaas::runner
