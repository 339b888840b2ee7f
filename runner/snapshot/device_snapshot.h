// Device snapshots of a Linux Vmm: capture the state of its serial port, i8042 and virtio-blk
// disks, and rebuild them from a snapshot in a Vmm whose vCPUs have not run (or are paused).
#pragma once

#include <string>

#include "runner/snapshot/microvm_state.h"
#include "runner/vmm.h"

namespace snapfaas::runner::snapshot {

/// The state of every VMM device of `vmm` (vCPUs paused). Ring-3 VMs have none.
[[nodiscard]] DeviceStates capture_devices(Vmm& vmm);

/// Rebuilds the devices of `states` in `vmm` (vCPUs not running) and puts them on its buses in
/// place of the ones it was built with. Disks keep the MMIO address and IRQ the guest found them
/// at; each reopens its image from vmm's configuration (--rootfs, --appfs), falling back to the
/// path in the snapshot. `appfs_override` (non-empty) backs the "appfs" disk instead: the app
/// image attached at restore may differ from the one at save — a changed capacity is announced to
/// the guest with a config-change interrupt. The root disk must keep its capacity.
/// Throws common::Error naming the device and the problem.
void restore_devices(Vmm& vmm, const DeviceStates& states, const std::string& appfs_override = {});

}  // namespace snapfaas::runner::snapshot
