// VmmConfig: everything firerunner needs to build one microVM (plain values, from the CLI).
#pragma once

#include <cstdint>
#include <string>

namespace snapfaas::runner {

struct VmmConfig {
  std::string kernel;       ///< vmlinux or ring-3 guest ELF
  std::string rootfs;       ///< raw image for /dev/vda (read-only unless rootfs_rw), empty for none
  std::string appfs;        ///< raw image for /dev/vdb (always read-only), empty for none
  bool rootfs_rw = false;   ///< attach the rootfs read-write (root mounted rw)
  bool direct_io = false;   ///< open the disk images with O_DIRECT (bypass the host page cache)
  std::uint64_t mem_mib = 128;
  std::uint32_t vcpu_count = 1;
  std::string kernel_args;  ///< appended to the default Linux command line
  std::string console;      ///< console output file; empty = stdout
  bool ring3 = false;       ///< force ring-3 boot (also chosen by the ELF note)
  /// Copy the kernel's segments and boot data into RAM. false when every VM this process runs
  /// is restored (a snapshot replaces all of RAM): only the ELF headers are read (the vmlinux is
  /// ~17 MB; reading and copying it was most of VM creation in the emulated host).
  bool place_kernel = true;
  double timeout_s = 0;     ///< > 0: stop the VM with an error naming each vCPU's RIP after this long
  std::string kvm_path = "/dev/kvm";
  bool dirty_log = false;   ///< register RAM with KVM_MEM_LOG_DIRTY_PAGES (needed for snapshot diffs)
  std::string network;      ///< "TAP/MAC": attach virtio-net on that tap (docs/NETWORKING.md); empty: none
  std::string guest_address = "172.16.0.2/30,172.16.0.1";  ///< eth0's ADDR/PREFIX,GW (kernel ip=) with --network
};

/// Linux command-line arguments firerunner always passes before --kernel_args.
inline constexpr const char* kDefaultKernelArgs =
    "console=ttyS0 reboot=k panic=1 pci=off nomodules i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd";

}  // namespace snapfaas::runner
