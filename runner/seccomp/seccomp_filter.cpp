// The per-role seccomp allowlists (see seccomp_filter.h).
#include "runner/seccomp/seccomp_filter.h"

#include <errno.h>
#include <linux/kvm.h>
#include <sched.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include "common/error.h"
#include "common/unique_fd.h"

namespace snapfaas::runner {
namespace {

// Syscalls both roles need: memory, time, signals, futex doorbells, thread exit.
constexpr std::string_view kCommon[] = {
    "read",         "write",         "readv",          "writev",     "pread64",       "pwrite64",
    "close",        "mmap",          "munmap",         "mprotect",   "madvise",       "mremap",
    "brk",          "futex",         "clock_gettime",  "gettimeofday", "clock_nanosleep", "nanosleep",
    "sched_yield",  "getpid",        "gettid",         "tgkill",     "rt_sigreturn",  "rt_sigprocmask",
    "restart_syscall", "exit",       "exit_group",     "getrandom",  "rseq",          "membarrier",
};

// vCPU thread extras: what a new thread does for itself (glibc's start_thread).
constexpr std::string_view kVcpuOnly[] = {"set_robust_list", "sigaltstack", "fsync", "fdatasync",
                                           "epoll_ctl"};  // virtio-net arms its tap on DRIVER_OK (vCPU)

#if defined(__SANITIZE_ADDRESS__)
// Sanitizer builds only (SNAPFAAS_SANITIZE, tests): UBSan's vptr check probes memory through a
// pipe; LeakSanitizer's exit-time check clones a tracer that ptraces the threads and reads /proc.
constexpr std::string_view kSanitizerRuntime[] = {
    "open",    "getdents", "readlink", "pipe2",   "clone",     "ptrace",  "wait4",    "waitid",   "openat",  "getdents64", "prctl",
    "fstat",   "newfstatat", "lseek",  "readlinkat", "sched_getaffinity", "sigaltstack", "rt_sigaction",
    "dup",     "dup3",      "getppid", "getuid",   "uname",
};
#endif

// VMM thread extras: file access for images and snapshots, event loops, threads for vCPUs.
constexpr std::string_view kVmmOnly[] = {
    "ioctl",       "openat",        "fstat",          "newfstatat", "statx",        "lseek",
    "fcntl",       "dup",           "dup3",           "pipe2",      "eventfd2",     "epoll_create1",
    "epoll_ctl",   "epoll_wait",    "epoll_pwait",    "ppoll",      "poll",         "timerfd_create",
    "timerfd_settime", "rt_sigaction", "sigaltstack", "clone",      "clone3",       "set_robust_list",
    "prctl",       "fallocate",     "ftruncate",      "fsync",      "fdatasync",    "sched_getaffinity",
    "sched_setaffinity", "getuid",  "geteuid",        "getgid",     "getegid",      "uname",
    "mincore",     "munlock",       "mlock",          "readlinkat", "unlinkat",     "sysinfo",
    "mkdir",       "mkdirat",       "rename",         "renameat",   "renameat2",    "symlinkat", "unlink",
    "open",        "stat",          "lstat",          "access",     "faccessat",    "getcwd",
    "seccomp",  // only ever adds filters: the VMM thread stacks the vCPU role before run()
};

// The vCPU thread may only issue these ioctls (KVM API, 4.x "vcpu ioctl" sections).
constexpr unsigned long kVcpuIoctls[] = {
    KVM_RUN,            KVM_GET_REGS,     KVM_SET_REGS,     KVM_GET_SREGS,     KVM_SET_SREGS,
    KVM_GET_MSRS,       KVM_SET_MSRS,     KVM_GET_FPU,      KVM_SET_FPU,       KVM_GET_LAPIC,
    KVM_SET_LAPIC,      KVM_GET_XSAVE,    KVM_SET_XSAVE,    KVM_GET_XCRS,      KVM_SET_XCRS,
    KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS, KVM_GET_MP_STATE, KVM_SET_MP_STATE, KVM_GET_DEBUGREGS,
    KVM_SET_DEBUGREGS,  KVM_SET_CPUID2,   KVM_KVMCLOCK_CTRL, KVM_SET_SIGNAL_MASK, KVM_IRQ_LINE,
};

struct CtxDeleter {
  void operator()(scmp_filter_ctx ctx) const noexcept { seccomp_release(ctx); }
};
using Ctx = std::unique_ptr<void, CtxDeleter>;

void allow(scmp_filter_ctx ctx, std::string_view name) {
  const int nr = seccomp_syscall_resolve_name(std::string(name).c_str());
  if (nr == __NR_SCMP_ERROR) return;  // not a syscall on this architecture (e.g. poll on arm64)
  if (const int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0); rc < 0) {
    throw common::sys_error("seccomp_rule_add " + std::string(name), -rc);
  }
}

}  // namespace

std::vector<std::string_view> allowed_syscalls(ThreadRole role) {
  std::vector<std::string_view> names(std::begin(kCommon), std::end(kCommon));
  if (role == ThreadRole::kVmm) names.insert(names.end(), std::begin(kVmmOnly), std::end(kVmmOnly));
  if (role == ThreadRole::kVcpu) names.insert(names.end(), std::begin(kVcpuOnly), std::end(kVcpuOnly));
#if defined(__SANITIZE_ADDRESS__)
  for (std::string_view name : kSanitizerRuntime) {
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
#endif
  return names;
}

const char* role_name(ThreadRole role) noexcept {
  switch (role) {
    case ThreadRole::kVmm: return "vmm";
    case ThreadRole::kVcpu: return "vcpu";
    case ThreadRole::kControl: return "control";
  }
  return "?";
}

void apply_seccomp(ThreadRole role, const SeccompSettings& settings) {
  if (settings.enabled) install_seccomp(role, settings.action);
}

namespace {

// The role's allowlist as a libseccomp context (rules added, not yet compiled).
Ctx build_filter(ThreadRole role, SeccompAction action) {
  Ctx ctx(seccomp_init(action == SeccompAction::kLog ? SCMP_ACT_LOG : SCMP_ACT_KILL_PROCESS));
  if (!ctx) throw common::Error("seccomp_init: failed");
  for (std::string_view name : allowed_syscalls(role)) allow(ctx.get(), name);
  if (role == ThreadRole::kVcpu) {
    // Threads, never processes: clone only with CLONE_THREAD; clone3 (flags in memory, invisible
    // to the filter) answers ENOSYS so that glibc's pthread_create falls back to clone.
#if !defined(__SANITIZE_ADDRESS__)  // sanitizer builds allow any clone (see kSanitizerRuntime)
    if (const int rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                                        SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
        rc < 0) {
      throw common::sys_error("seccomp_rule_add clone", -rc);
    }
#endif
    if (const int rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0); rc < 0) {
      throw common::sys_error("seccomp_rule_add clone3", -rc);
    }
    for (unsigned long request : kVcpuIoctls) {
      // Compare only the low 32 bits: the kernel's ioctl request argument is an unsigned int.
      if (const int rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                                          SCMP_A1(SCMP_CMP_MASKED_EQ, 0xFFFFFFFFULL, request));
          rc < 0) {
        throw common::sys_error("seccomp_rule_add ioctl", -rc);
      }
    }
  }
  return ctx;
}

}  // namespace

void install_seccomp(ThreadRole role, SeccompAction action) {
  const Ctx ctx = build_filter(role, action);
  if (const int rc = seccomp_load(ctx.get()); rc < 0) throw common::sys_error("seccomp_load", -rc);
}

CompiledSeccomp CompiledSeccomp::compile(ThreadRole role, const SeccompSettings& settings) {
  CompiledSeccomp out;
  if (!settings.enabled) return out;
  const Ctx ctx = build_filter(role, settings.action);
  // libseccomp writes the BPF program it would load (raw sock_filter array) to an fd.
  const common::UniqueFd fd(::memfd_create("seccomp-bpf", MFD_CLOEXEC));
  if (!fd) throw common::sys_error("seccomp: memfd_create");
  if (const int rc = seccomp_export_bpf(ctx.get(), fd.get()); rc < 0) throw common::sys_error("seccomp_export_bpf", -rc);
  const off_t bytes = ::lseek(fd.get(), 0, SEEK_END);
  if (bytes <= 0 || bytes % static_cast<off_t>(sizeof(sock_filter)) != 0 ||
      bytes / static_cast<off_t>(sizeof(sock_filter)) > BPF_MAXINSNS) {
    throw common::Error("seccomp_export_bpf: " + std::to_string(bytes) + " bytes is no BPF program");
  }
  out.program_.resize(static_cast<std::size_t>(bytes) / sizeof(sock_filter));
  if (::pread(fd.get(), out.program_.data(), static_cast<std::size_t>(bytes), 0) != bytes) {
    throw common::sys_error("seccomp: read the exported program");
  }
  return out;
}

void CompiledSeccomp::install() const {
  if (program_.empty()) return;
  // What seccomp_load does with a context of default attributes: no_new_privs, then the filter
  // for this thread only (no TSYNC, no flags).
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) throw common::sys_error("prctl(PR_SET_NO_NEW_PRIVS)");
  sock_fprog prog{static_cast<unsigned short>(program_.size()), const_cast<sock_filter*>(program_.data())};
  if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0U, &prog) != 0) throw common::sys_error("seccomp(SET_MODE_FILTER)");
}

}  // namespace snapfaas::runner
