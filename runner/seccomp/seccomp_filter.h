// Seccomp allowlists for firerunner threads (libseccomp), one per thread role: the VMM (main)
// thread, each vCPU thread and the ring window's control thread. Anything not allowed kills the
// whole process with SIGSYS (SCMP_ACT_KILL_PROCESS), or is only logged (audit, dmesg) in log mode.
// Installed by each thread for itself, before the first KVM_RUN; threads created afterwards
// inherit the creator's filters, and filters stack (the strictest answer wins).
#pragma once

#include <linux/filter.h>

#include <string_view>
#include <vector>

namespace snapfaas::runner {

enum class ThreadRole {
  kVmm,      ///< main thread: control ring, restore (open/mmap snapshot files), snapshot saver
  kVcpu,     ///< vCPU thread: KVM_RUN and vCPU state ioctls, futex doorbells, port/MMIO exits;
             ///< may create threads (clone with CLONE_THREAD only; clone3 answers ENOSYS so that
             ///< libc falls back to clone, whose flags a filter can see)
  kControl,  ///< ring window control thread: shared-memory rings, futex, kicks, logging
};

/// What a filter does with a syscall outside the allowlist.
enum class SeccompAction {
  kKill,  ///< SCMP_ACT_KILL_PROCESS: the process dies with SIGSYS
  kLog,   ///< SCMP_ACT_LOG: allowed, logged by the kernel (audit type=1326); for finding needs
};

/// Installs the allowlist of `role` on the calling thread (no TSYNC: other threads keep theirs).
/// Sets no_new_privs. Throws common::Error naming the libseccomp step on failure.
void install_seccomp(ThreadRole role, SeccompAction action = SeccompAction::kKill);

/// firerunner's switch: `enabled` false (--no_seccomp, debugging only) installs nothing.
struct SeccompSettings {
  bool enabled = true;
  SeccompAction action = SeccompAction::kKill;
};

/// install_seccomp(role, settings.action) when settings.enabled.
void apply_seccomp(ThreadRole role, const SeccompSettings& settings);

/// A role's allowlist compiled ahead of time: libseccomp generates the BPF program
/// (seccomp_export_bpf) when the filter is built; install() is then one seccomp(2) call. For a
/// filter that goes on in a latency-critical moment (the pre-spawned runner's vCPU role, after a
/// request arrived): libseccomp 2.5 regenerates the program on every seccomp_load (~0.3 ms).
class CompiledSeccomp {
 public:
  /// Compiles `role` with settings.action; nothing (install() does nothing) when !settings.enabled.
  /// Throws common::Error naming the step.
  [[nodiscard]] static CompiledSeccomp compile(ThreadRole role, const SeccompSettings& settings);
  /// Installs the program on the calling thread, as install_seccomp would. Throws common::Error.
  void install() const;

 private:
  std::vector<sock_filter> program_;
};

[[nodiscard]] const char* role_name(ThreadRole role) noexcept;

/// Names of the syscalls allowed for `role` (ioctl for kVcpu is further limited to KVM requests).
[[nodiscard]] std::vector<std::string_view> allowed_syscalls(ThreadRole role);

}  // namespace snapfaas::runner
