// mount_appfs: the agent mounts the function's app image itself, after the base snapshot point, so
// one base snapshot (taken with a placeholder app disk) serves every function's app image.
#pragma once

#include <chrono>
#include <string>

namespace snapfaas::guest {

/// Mounts the ext2 image on `device` read-only at `dir`, unless `dir` is already a mount point.
/// Drops the block device's cached pages first (a restored guest may hold pages of the image that
/// was attached when the snapshot was taken), reads the superblock and waits up to `wait` until
/// the kernel reports a capacity holding the whole file system (the VMM announces a new image
/// size with a virtio config-change interrupt, handled asynchronously by the guest kernel).
/// Throws AgentFailure(kAppfsMount) naming the step.
void mount_appfs(const std::string& device, const std::string& dir, std::chrono::milliseconds wait);

}  // namespace snapfaas::guest
