// The per-role seccomp allowlists (see seccomp_filter.h). Each role is a list of rules: a syscall
// name and the argument comparisons that must all hold (none: any arguments). libseccomp turns
// them into BPF; nothing here is hand-written BPF.
#include "runner/seccomp/seccomp_filter.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/error.h"
#include "common/unique_fd.h"
#include "runner/kvm/kvm_abi.h"

namespace snapfaas::runner {
namespace {

/// One allowed syscall; every comparison in `args` must hold (libseccomp ANDs them).
struct Rule {
  std::string_view name;
  std::vector<scmp_arg_cmp> args;
};
using Rules = std::vector<Rule>;

bool same(const Rule& a, const Rule& b) {
  return a.name == b.name && std::equal(a.args.begin(), a.args.end(), b.args.begin(), b.args.end(),
                                        [](const scmp_arg_cmp& x, const scmp_arg_cmp& y) {
                                          return x.arg == y.arg && x.op == y.op && x.datum_a == y.datum_a &&
                                                 x.datum_b == y.datum_b;
                                        });
}

// Appends the rules `to` does not hold yet (roles are unions of shared groups).
void append(Rules& to, const Rules& more) {
  for (const Rule& rule : more) {
    if (std::none_of(to.begin(), to.end(), [&](const Rule& r) { return same(r, rule); })) to.push_back(rule);
  }
}

// Memory management without ever asking for executable pages: a thread that could map or
// mprotect PROT_EXEC memory could run code it wrote (guest-controlled bytes included).
Rules memory_rules() {
  return {{"brk", {}},
          {"munmap", {}},
          {"madvise", {}},
          {"mremap", {}},  // keeps the protection of what it moves
          {"mmap", {SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)}},
          {"mprotect", {SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)}}};
}

// What every thread does: locks and doorbells (futex), time, its signal mask, the kick signal's
// return, logging (write), closing descriptors it owns, and ending.
Rules thread_rules() {
  return {{"futex", {}},         {"sched_yield", {}},     {"clock_gettime", {}},  {"clock_nanosleep", {}},
          {"nanosleep", {}},     {"gettimeofday", {}},    {"restart_syscall", {}}, {"rt_sigreturn", {}},
          {"rt_sigprocmask", {}}, {"getpid", {}},         {"gettid", {}},         {"tgkill", {}},
          {"write", {}},         {"close", {}},           {"exit", {}},           {"exit_group", {}}};
}

// ioctl only with these request numbers (the kernel takes the request as an unsigned int: only
// the low 32 bits are compared). No tty, tun or other device request is possible.
Rules ioctls(std::initializer_list<unsigned long> requests) {
  Rules out;
  for (unsigned long r : requests) out.push_back({"ioctl", {SCMP_A1(SCMP_CMP_MASKED_EQ, 0xFFFFFFFFULL, r)}});
  return out;
}

// vCPU ioctls (KVM API 4.x "vcpu ioctl"): run, state get/set, as exits and restores need them.
// KVM_SET/GET_MSRS, KVM_SET_CPUID2 and KVM_GET/SET_XSAVE use kvm_abi's numbers: the C++ sizes of
// the flexible-array structs differ from the kernel's.
constexpr std::initializer_list<unsigned long> kVcpuIoctls = {
    KVM_RUN,          KVM_GET_REGS,        KVM_SET_REGS,        KVM_GET_SREGS,        KVM_SET_SREGS,
    kvm_abi::kGetMsrs, kvm_abi::kSetMsrs,  KVM_GET_FPU,         KVM_SET_FPU,          KVM_GET_LAPIC,
    KVM_SET_LAPIC,    kvm_abi::kGetXsave,  kvm_abi::kSetXsave,  KVM_GET_XCRS,         KVM_SET_XCRS,
    KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS, KVM_GET_MP_STATE, KVM_SET_MP_STATE,     KVM_GET_DEBUGREGS,
    KVM_SET_DEBUGREGS, kvm_abi::kSetCpuid2, KVM_KVMCLOCK_CTRL,  KVM_SET_SIGNAL_MASK,  KVM_IRQ_LINE,
};
// VM-wide ioctls after lock-down: restore (irqchip, PIT, clock, memslot re-registration that
// flushes the shadow MMU, the dirty log), interrupts of restored devices (irqfd). Creating VMs,
// vCPUs, irqchips or PITs is set-up only.
constexpr std::initializer_list<unsigned long> kVmIoctls = {
    KVM_GET_IRQCHIP, KVM_SET_IRQCHIP, KVM_GET_PIT2,      KVM_SET_PIT2,  KVM_GET_CLOCK, KVM_SET_CLOCK,
    KVM_IRQFD,       KVM_IRQ_LINE,    KVM_GET_DIRTY_LOG, KVM_SET_USER_MEMORY_REGION,   KVM_CHECK_EXTENSION,
};
// What the saver reads: every vCPU's state (it completes a pending port I/O with an
// immediate-exit KVM_RUN first) and the VM's.
constexpr std::initializer_list<unsigned long> kSaverIoctls = {
    KVM_RUN,           KVM_GET_REGS,       KVM_GET_SREGS,    kvm_abi::kGetMsrs, KVM_GET_FPU,
    KVM_GET_LAPIC,     kvm_abi::kGetXsave, KVM_GET_XCRS,     KVM_GET_VCPU_EVENTS, KVM_GET_MP_STATE,
    KVM_GET_DEBUGREGS, KVM_GET_IRQCHIP,    KVM_GET_PIT2,     KVM_GET_CLOCK,     KVM_GET_DIRTY_LOG,
};

Rules vcpu_rules() {
  Rules r = memory_rules();
  append(r, thread_rules());
  // Device emulation on the exiting vCPU: disk I/O on images opened at create, tap writes,
  // eventfd signals (irqfd), arming the tap's epoll on DRIVER_OK, flushes for FLUSH requests.
  append(r, {{"read", {}}, {"readv", {}}, {"writev", {}}, {"pread64", {}}, {"pwrite64", {}}, {"preadv", {}},
             {"pwritev", {}}, {"fsync", {}}, {"fdatasync", {}}, {"epoll_ctl", {}}});
  append(r, ioctls(kVcpuIoctls));
  return r;
}

Rules control_rules() {
  Rules r = memory_rules();
  append(r, thread_rules());
  return r;
}

Rules net_rx_rules() {
  Rules r = memory_rules();
  append(r, thread_rules());
  append(r, {{"read", {}}, {"epoll_wait", {}}, {"epoll_pwait", {}}, {"epoll_ctl", {}}});
  return r;
}

Rules vmm_rules() {
  // Every thread created after lock-down inherits this program: it holds what they need too.
  Rules r = vcpu_rules();
  append(r, net_rx_rules());
  append(r, control_rules());
  append(r, {{"lseek", {}},
             {"fstat", {}},
             {"newfstatat", {SCMP_A3(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, AT_EMPTY_PATH)}},  // glibc's fstat
             {"eventfd2", {}},
             {"epoll_create1", {}},
             {"getrandom", {}},
             {"set_robust_list", {}},
             {"rseq", {}},
             {"fcntl", {SCMP_A1(SCMP_CMP_EQ, F_DUPFD_CLOEXEC)}},
             {"fcntl", {SCMP_A1(SCMP_CMP_EQ, F_GETFD)}},
             {"fcntl", {SCMP_A1(SCMP_CMP_EQ, F_GETFL)}},
             // Threads only (a restored device's receive thread): CLONE_THREAD and CLONE_VM.
             {"clone", {SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD | CLONE_VM, CLONE_THREAD | CLONE_VM)}},
             // A new thread names itself and installs its own program: no_new_privs and one more
             // filter, nothing else.
             {"prctl", {SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME)}},
             {"prctl", {SCMP_A0(SCMP_CMP_EQ, PR_SET_NO_NEW_PRIVS)}},
             {"seccomp", {SCMP_A0(SCMP_CMP_EQ, SECCOMP_SET_MODE_FILTER), SCMP_A1(SCMP_CMP_EQ, 0)}}});
  append(r, ioctls(kVmIoctls));
  return r;
}

Rules saver_rules(const FilterArgs& args) {
  Rules r = memory_rules();
  append(r, thread_rules());
  // Files only inside the snapshot directory, by its descriptor (opened before lock-down): temp
  // files created write-only, renamed into place, a stale working set removed. (An absolute path
  // would ignore the descriptor: the jail's read-only root is what stops those.)
  const auto dir = static_cast<scmp_datum_t>(args.snapshot_dir_fd);
  append(r, {{"openat", {SCMP_A0(SCMP_CMP_EQ, dir), SCMP_A2(SCMP_CMP_MASKED_EQ, O_ACCMODE, O_WRONLY)}},
             {"renameat", {SCMP_A0(SCMP_CMP_EQ, dir), SCMP_A2(SCMP_CMP_EQ, dir)}},
             {"renameat2", {SCMP_A0(SCMP_CMP_EQ, dir), SCMP_A2(SCMP_CMP_EQ, dir)}},
             {"unlinkat", {SCMP_A0(SCMP_CMP_EQ, dir)}},
             {"pwrite64", {}},
             {"ftruncate", {}},
             {"fsync", {}},
             {"fstat", {}},
             {"newfstatat", {SCMP_A3(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, AT_EMPTY_PATH)}},
             {"lseek", {}},
             {"pread64", {}},       // --dump_ws: /proc/self/pagemap, opened before lock-down
             {"getrandom", {}},     // the snapshot's id
             {"epoll_ctl", {}}});   // pausing virtio-net disarms its tap
  append(r, ioctls(kSaverIoctls));
  return r;
}

#if defined(__SANITIZE_ADDRESS__)
// Sanitizer builds only (SNAPFAAS_SANITIZE, tests): UBSan's vptr check probes memory through a
// pipe; LeakSanitizer's exit-time check clones a tracer that ptraces the threads and reads /proc.
// Allowed with any arguments in every role: the Release build's tests check the real programs.
constexpr std::string_view kSanitizerRuntime[] = {
    "open",    "getdents", "readlink", "pipe2",   "clone",     "ptrace",  "wait4",    "waitid",   "openat",  "getdents64", "prctl",
    "fstat",   "newfstatat", "lseek",  "readlinkat", "sched_getaffinity", "sigaltstack", "rt_sigaction",
    "dup",     "dup3",      "getppid", "getuid",   "uname",     "fcntl",
};
#endif

[[nodiscard]] bool sanitizer_allows(std::string_view name) {
#if defined(__SANITIZE_ADDRESS__)
  return std::find(std::begin(kSanitizerRuntime), std::end(kSanitizerRuntime), name) != std::end(kSanitizerRuntime);
#else
  (void)name;
  return false;
#endif
}

Rules rules_of(ThreadRole role, const FilterArgs& args) {
  switch (role) {
    case ThreadRole::kVmm: return vmm_rules();
    case ThreadRole::kVcpu: return vcpu_rules();
    case ThreadRole::kControl: return control_rules();
    case ThreadRole::kNetRx: return net_rx_rules();
    case ThreadRole::kSaver: return saver_rules(args);
  }
  return {};
}

struct CtxDeleter {
  void operator()(scmp_filter_ctx ctx) const noexcept { seccomp_release(ctx); }
};
using Ctx = std::unique_ptr<void, CtxDeleter>;

void add(scmp_filter_ctx ctx, std::uint32_t action, std::string_view name, const std::vector<scmp_arg_cmp>& args) {
  const int nr = seccomp_syscall_resolve_name(std::string(name).c_str());
  if (nr == __NR_SCMP_ERROR) return;  // not a syscall on this architecture (e.g. epoll_wait on arm64)
  const int rc = args.empty() ? seccomp_rule_add(ctx, action, nr, 0)
                              : seccomp_rule_add_array(ctx, action, nr, static_cast<unsigned>(args.size()), args.data());
  if (rc < 0) throw common::sys_error("seccomp_rule_add " + std::string(name), -rc);
}

// The role's allowlist as a libseccomp context (rules added, not yet compiled).
Ctx build_filter(ThreadRole role, SeccompAction action, const FilterArgs& args) {
  Ctx ctx(seccomp_init(action == SeccompAction::kLog ? SCMP_ACT_LOG : SCMP_ACT_KILL_PROCESS));
  if (!ctx) throw common::Error("seccomp_init: failed");
  if (role == ThreadRole::kSaver && args.snapshot_dir_fd < 0) {
    throw common::Error("seccomp: the saver role needs the snapshot directory's descriptor");
  }
#if defined(__SANITIZE_ADDRESS__)
  for (std::string_view name : kSanitizerRuntime) add(ctx.get(), SCMP_ACT_ALLOW, name, {});
#endif
  for (const Rule& rule : rules_of(role, args)) {
    if (sanitizer_allows(rule.name)) continue;  // already allowed with any arguments
    add(ctx.get(), SCMP_ACT_ALLOW, rule.name, rule.args);
  }
  // clone3 passes its flags in memory, where a filter cannot see them: it answers ENOSYS, and
  // glibc's pthread_create falls back to clone, whose flags the rules above check.
  add(ctx.get(), SCMP_ACT_ERRNO(ENOSYS), "clone3", {});
  return ctx;
}

}  // namespace

std::vector<std::string_view> allowed_syscalls(ThreadRole role) {
  std::vector<std::string_view> names;
  FilterArgs args;
  args.snapshot_dir_fd = 0;
  for (const Rule& rule : rules_of(role, args)) {
    if (std::find(names.begin(), names.end(), rule.name) == names.end()) names.push_back(rule.name);
  }
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
    case ThreadRole::kNetRx: return "net-rx";
    case ThreadRole::kSaver: return "saver";
  }
  return "?";
}

void install_seccomp(ThreadRole role, SeccompAction action, const FilterArgs& args) {
  const Ctx ctx = build_filter(role, action, args);
  if (const int rc = seccomp_load(ctx.get()); rc < 0) throw common::sys_error("seccomp_load", -rc);
}

CompiledSeccomp CompiledSeccomp::compile(ThreadRole role, const SeccompSettings& settings, const FilterArgs& args) {
  CompiledSeccomp out;
  out.role_ = role;
  if (!settings.enabled) return out;
  const Ctx ctx = build_filter(role, settings.action, args);
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
  if (role_ != ThreadRole::kVmm && ::prctl(PR_SET_NAME, role_name(role_), 0, 0, 0) != 0) {
    throw common::sys_error(std::string("prctl(PR_SET_NAME ") + role_name(role_) + ")");
  }
  // What seccomp_load does with a context of default attributes: no_new_privs, then the filter
  // for this thread only (no TSYNC, no flags).
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) throw common::sys_error("prctl(PR_SET_NO_NEW_PRIVS)");
  sock_fprog prog{static_cast<unsigned short>(program_.size()), const_cast<sock_filter*>(program_.data())};
  if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0U, &prog) != 0) throw common::sys_error("seccomp(SET_MODE_FILTER)");
}

void prime_thread_creation() {
  static std::once_flag once;
  std::call_once(once, [] { std::thread([] {}).join(); });
}

}  // namespace snapfaas::runner
