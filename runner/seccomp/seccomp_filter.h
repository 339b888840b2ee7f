// Seccomp allowlists for firerunner threads (libseccomp), one per thread role, with argument
// filters: mmap/mprotect never with PROT_EXEC, ioctl only by KVM request number, clone only for
// threads, no path-taking call (open, openat, unlink, rename, mkdir, symlink...) except in the
// snapshot saver role, and there only relative to the one directory it writes. Anything else kills
// the whole process with SIGSYS (SCMP_ACT_KILL_PROCESS), or is only logged (audit, dmesg) in log
// mode. Each thread installs its role's program for itself before it reads anything a guest or a
// snapshot file controls; threads created afterwards inherit their creator's programs, and
// programs stack (every one must allow a call). docs/SECURITY.md lists what each role may do and why.
#pragma once

#include <linux/filter.h>

#include <string_view>
#include <vector>

namespace snapfaas::runner {

enum class ThreadRole {
  kVmm,      ///< main thread from lock-down on: parses snapshot state and restores it (KVM VM and
             ///< vCPU ioctls, mmap of already opened files), answers control commands while a
             ///< pre-spawned VM waits, creates the threads of restored devices, waits for the end
  kVcpu,     ///< vCPU thread (under the VMM program): KVM_RUN and vCPU state ioctls, device
             ///< emulation (disk I/O on open images, tap writes, eventfd signals), futex doorbells
  kControl,  ///< ring window control thread (under the VMM program): shared-memory rings, futex
  kNetRx,    ///< virtio-net receive thread (under the VMM program): epoll on its tap, reads
             ///< frames into guest memory, signals the guest's interrupt
  kSaver,    ///< snapshot saver thread (--dump_dir; started before lock-down, so under this
             ///< program only): pauses the vCPUs, reads VM and vCPU state, writes the snapshot's
             ///< files into one directory opened ahead (openat/renameat/unlinkat on that fd only)
};

/// What a filter does with a syscall outside the allowlist.
enum class SeccompAction {
  kKill,  ///< SCMP_ACT_KILL_PROCESS: the process dies with SIGSYS
  kLog,   ///< SCMP_ACT_LOG: allowed, logged by the kernel (audit type=1326); for finding needs
};

/// Values the programs of some roles compare arguments with.
struct FilterArgs {
  int snapshot_dir_fd = -1;  ///< kSaver: the only dirfd its *at calls may name
};

/// Installs the allowlist of `role` on the calling thread (no TSYNC: other threads keep theirs).
/// Sets no_new_privs. Throws common::Error naming the libseccomp step on failure.
void install_seccomp(ThreadRole role, SeccompAction action = SeccompAction::kKill, const FilterArgs& args = {});

/// firerunner's switch: `enabled` false (--no_seccomp, debugging only) installs nothing.
struct SeccompSettings {
  bool enabled = true;
  SeccompAction action = SeccompAction::kKill;
};

/// A role's allowlist compiled ahead of time: libseccomp generates the BPF program
/// (seccomp_export_bpf) when the filter is built (before lock-down: it needs memfd_create);
/// install() is then one seccomp(2) call, so a thread can install its program first thing.
class CompiledSeccomp {
 public:
  /// Compiles `role` with settings.action; nothing (install() does nothing) when !settings.enabled.
  /// Throws common::Error naming the step.
  [[nodiscard]] static CompiledSeccomp compile(ThreadRole role, const SeccompSettings& settings,
                                               const FilterArgs& args = {});
  /// Installs the program on the calling thread, as install_seccomp would; a thread of a role
  /// other than kVmm is first named after its role (role_name: /proc/PID/task/TID/comm, ps -L).
  /// Throws common::Error.
  void install() const;
  [[nodiscard]] bool empty() const noexcept { return program_.empty(); }

 private:
  ThreadRole role_ = ThreadRole::kVmm;
  std::vector<sock_filter> program_;
};

[[nodiscard]] const char* role_name(ThreadRole role) noexcept;

/// Names of the syscalls `role` allows at all (some only with the arguments its rules name; in
/// sanitizer builds plus what the sanitizer runtime needs).
[[nodiscard]] std::vector<std::string_view> allowed_syscalls(ThreadRole role);

/// glibc sets up its thread machinery (the SIGCANCEL/SIGSETXID handlers: rt_sigaction) at the first
/// pthread_create. Creates and joins one thread so that this happens before any program is
/// installed and no role needs rt_sigaction. Idempotent.
void prime_thread_creation();

}  // namespace snapfaas::runner
