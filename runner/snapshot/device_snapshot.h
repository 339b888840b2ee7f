// Device snapshots of a Linux Vmm: capture the state of its serial port, i8042 and virtio-blk
// disks, and rebuild them from a snapshot in a Vmm whose vCPUs have not run (or are paused).
#pragma once

#include <string>

#include "common/unique_fd.h"
#include "runner/snapshot/microvm_state.h"
#include "runner/vmm.h"

namespace snapfaas::runner::snapshot {

/// The state of every VMM device of `vmm` (vCPUs paused). Ring-3 VMs have none.
[[nodiscard]] DeviceStates capture_devices(Vmm& vmm);

/// An app image opened ahead (read-only, before the runner locked itself down), for a restore that
/// attaches another app disk than the VM was built with (a pre-spawned runner's function).
struct AppImage {
  std::string path;  ///< what it was opened from (a label in logs and later saves)
  int fd = -1;       ///< borrowed; restore_devices duplicates it
  [[nodiscard]] bool empty() const noexcept { return fd < 0; }
};

/// Rebuilds the devices of `states` in `vmm` (vCPUs not running) and puts them on its buses in
/// place of the ones it was built with. A snapshot is guest-produced data: it says where each
/// device sat and what state it was in, never what backs it. Disks keep the MMIO address and IRQ
/// the guest found them at and are backed by the VM's own images — the descriptor of its
/// --rootfs / --appfs device, or `appfs` (non-empty) for the app disk: the app image attached at
/// restore may differ from the one at save (a changed capacity is announced to the guest with a
/// config-change interrupt; the root disk must keep its capacity). A disk the configuration
/// attaches read-only cannot come back read-write. A network device gets the tap of the VM's own
/// --network device. Throws common::Error naming the device and the problem (a snapshot disk or
/// network device the VM has no backend for included).
void restore_devices(Vmm& vmm, const DeviceStates& states, const AppImage& appfs = {});

}  // namespace snapfaas::runner::snapshot
