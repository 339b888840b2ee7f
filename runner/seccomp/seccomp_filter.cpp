// The per-role seccomp allowlists (see seccomp_filter.h).
#include "runner/seccomp/seccomp_filter.h"

#include <linux/kvm.h>
#include <seccomp.h>

#include <cstring>
#include <memory>
#include <string>

#include "common/error.h"

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

// VMM thread extras: file access for images and snapshots, event loops, threads for vCPUs.
constexpr std::string_view kVmmOnly[] = {
    "ioctl",       "openat",        "fstat",          "newfstatat", "statx",        "lseek",
    "fcntl",       "dup",           "dup3",           "pipe2",      "eventfd2",     "epoll_create1",
    "epoll_ctl",   "epoll_wait",    "epoll_pwait",    "ppoll",      "poll",         "timerfd_create",
    "timerfd_settime", "rt_sigaction", "sigaltstack", "clone",      "clone3",       "set_robust_list",
    "prctl",       "fallocate",     "ftruncate",      "fsync",      "fdatasync",    "sched_getaffinity",
    "sched_setaffinity", "getuid",  "geteuid",        "getgid",     "getegid",      "uname",
    "mincore",     "munlock",       "mlock",          "readlinkat", "unlinkat",     "sysinfo",
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
  return names;
}

void install_seccomp(ThreadRole role) {
  Ctx ctx(seccomp_init(SCMP_ACT_KILL_PROCESS));
  if (!ctx) throw common::Error("seccomp_init: failed");
  for (std::string_view name : allowed_syscalls(role)) allow(ctx.get(), name);
  if (role == ThreadRole::kVcpu) {
    for (unsigned long request : kVcpuIoctls) {
      // Compare only the low 32 bits: the kernel's ioctl request argument is an unsigned int.
      if (const int rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                                          SCMP_A1(SCMP_CMP_MASKED_EQ, 0xFFFFFFFFULL, request));
          rc < 0) {
        throw common::sys_error("seccomp_rule_add ioctl", -rc);
      }
    }
  }
  if (const int rc = seccomp_load(ctx.get()); rc < 0) throw common::sys_error("seccomp_load", -rc);
}

}  // namespace snapfaas::runner
