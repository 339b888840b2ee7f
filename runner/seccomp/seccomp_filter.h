// Seccomp allowlists for firerunner threads (libseccomp), one per thread role: the VMM (main)
// thread and each vCPU thread. Anything not allowed kills the whole process with SIGSYS
// (SCMP_ACT_KILL_PROCESS). Installed by each thread for itself, before its first KVM_RUN.
#pragma once

#include <string_view>
#include <vector>

namespace snapfaas::runner {

enum class ThreadRole {
  kVmm,   ///< main thread: control ring, restore (open/mmap snapshot files), device emulation
  kVcpu,  ///< vCPU thread: KVM_RUN and vCPU state ioctls, futex doorbells, port/MMIO exits
};

/// Installs the allowlist of `role` on the calling thread (no TSYNC: other threads keep theirs).
/// Sets no_new_privs. Throws common::Error naming the libseccomp step on failure.
void install_seccomp(ThreadRole role);

/// Names of the syscalls allowed for `role` (ioctl for kVcpu is further limited to KVM requests).
[[nodiscard]] std::vector<std::string_view> allowed_syscalls(ThreadRole role);

}  // namespace snapfaas::runner
