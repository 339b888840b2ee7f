// Tests of runner/seccomp (kept with the supervisor tests, which own them): a child process
// installs a role's allowlist; allowed syscalls work, a forbidden one kills it with SIGSYS —
// including the argument filters (PROT_EXEC, ioctl request numbers, clone flags, the saver's one
// directory). Children use raw syscalls after installing so that no library code adds calls of
// its own. Sanitizer builds allow what the sanitizer runtime needs (open, clone, prctl, fcntl...
// with any arguments): those checks run in the Release build (ctest label production).
#include <doctest/doctest.h>

#include <fcntl.h>
#include <linux/kvm.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <functional>

#include "runner/kvm/kvm_abi.h"
#include "runner/seccomp/seccomp_filter.h"

using snapfaas::runner::ThreadRole;

namespace {

struct Outcome {
  bool exited = false;
  int code = -1;
  int signal = 0;
  char byte = 0;
};

// Forks; the child runs `install`, then `body` which must end the process itself.
Outcome run_installed(const std::function<void()>& install, const std::function<void(int)>& body) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    try {
      install();
    } catch (...) {
      _exit(100);
    }
    body(fds[1]);
    ::syscall(SYS_exit_group, 101);
  }
  ::close(fds[1]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  Outcome o;
  o.exited = WIFEXITED(status);
  o.code = o.exited ? WEXITSTATUS(status) : -1;
  o.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  if (::read(fds[0], &o.byte, 1) != 1) o.byte = 0;
  ::close(fds[0]);
  return o;
}

// Forks; the child installs `role` (install_seccomp), then runs `body`.
Outcome run_child(ThreadRole role, const std::function<void(int)>& body, snapfaas::runner::FilterArgs args = {}) {
  return run_installed([role, args] { snapfaas::runner::install_seccomp(role, snapfaas::runner::SeccompAction::kKill, args); },
                       body);
}

bool killed(ThreadRole role, const std::function<void()>& call, snapfaas::runner::FilterArgs args = {}) {
  const Outcome o = run_child(role, [&call](int) { call(); }, args);
  return o.signal == SIGSYS;
}

// The child reaches its end (exit 0) after `call`, whatever `call` returned.
bool allowed(ThreadRole role, const std::function<void()>& call, snapfaas::runner::FilterArgs args = {}) {
  const Outcome o = run_child(role, [&call](int) {
    call();
    ::syscall(SYS_exit_group, 0);
  }, args);
  return o.exited && o.code == 0;
}

constexpr ThreadRole kRoles[] = {ThreadRole::kVmm, ThreadRole::kVcpu, ThreadRole::kControl, ThreadRole::kNetRx,
                                 ThreadRole::kSaver};

// Calls no role may make, with the arguments that matter.
// open_file and fork_process are checked in production (non-sanitizer) builds only.
[[maybe_unused]] void open_file() { ::syscall(SYS_openat, AT_FDCWD, "/etc/hostname", O_RDONLY); }
void exec_mapping() { ::syscall(SYS_mmap, nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); }
void make_executable() {
  static char page[4096] __attribute__((aligned(4096)));
  ::syscall(SYS_mprotect, page, sizeof page, PROT_READ | PROT_WRITE | PROT_EXEC);
}
void tty_inject() {
  const char c = 'x';
  ::syscall(SYS_ioctl, 0, TIOCSTI, &c);
}
[[maybe_unused]] void fork_process() { ::syscall(SYS_clone, SIGCHLD, nullptr, nullptr, nullptr, 0); }
void socket_call() { ::syscall(SYS_socket, AF_INET, SOCK_STREAM, 0); }
void exec_call() {
  char* argv[] = {nullptr};
  ::syscall(SYS_execve, "/bin/true", argv, argv);
}

// A directory for the saver's cases, and the descriptor its program names.
struct SaverDir {
  char path[32] = "/tmp/snapfaas-saver-XXXXXX";
  int fd = -1;
  SaverDir() {
    REQUIRE(::mkdtemp(path) != nullptr);
    fd = ::open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    REQUIRE(fd >= 0);
  }
  ~SaverDir() {
    ::unlinkat(fd, "b", 0);
    ::unlinkat(fd, "a", 0);
    ::close(fd);
    ::rmdir(path);
  }
};

}  // namespace

TEST_CASE("every role: no exec, no new executable memory, no socket, no process, no tty ioctl") {
  for (ThreadRole role : kRoles) {
    CAPTURE(snapfaas::runner::role_name(role));
    snapfaas::runner::FilterArgs args;
    SaverDir dir;
    args.snapshot_dir_fd = dir.fd;
    CHECK(killed(role, exec_call, args));
    CHECK(killed(role, socket_call, args));
    CHECK(killed(role, exec_mapping, args));
    CHECK(killed(role, make_executable, args));
    CHECK(killed(role, tty_inject, args));
    CHECK(killed(role, [] { ::syscall(SYS_mount, "none", "/mnt", "tmpfs", 0, nullptr); }, args));
    CHECK(killed(role, [] { ::syscall(SYS_symlinkat, "/", AT_FDCWD, "/tmp/x"); }, args));
    CHECK(killed(role, [] { ::syscall(SYS_mkdirat, AT_FDCWD, "/tmp/x", 0700); }, args));
    CHECK(killed(role, [] { ::syscall(SYS_memfd_create, "x", 0); }, args));
    CHECK(killed(role, [] {  // a runner cannot leave its CPUs (--runner_cpus)
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(0, &set);
      ::syscall(SYS_sched_setaffinity, 0, sizeof set, &set);
    }, args));
#if !defined(__SANITIZE_ADDRESS__)  // the sanitizer runtime needs these with any arguments
    CHECK(killed(role, open_file, args));
    CHECK(killed(role, fork_process, args));
    CHECK(killed(role, [] { ::syscall(SYS_ptrace, 0, 0, 0, 0); }, args));
    CHECK(killed(role, [] { ::syscall(SYS_prctl, PR_SET_DUMPABLE, 1, 0, 0, 0); }, args));
#endif
    // Anonymous read-write memory, futex and logging stay possible.
    CHECK(allowed(role, [] {
      ::syscall(SYS_mmap, nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      std::uint32_t word = 0;
      ::syscall(SYS_futex, &word, 1 /*FUTEX_WAKE*/, 1, nullptr, nullptr, 0);
      ::syscall(SYS_write, 2, "", 0);
    }, args));
  }
}

TEST_CASE("vmm role: KVM ioctls and thread creation only; no file opened, renamed or removed") {
  CHECK(allowed(ThreadRole::kVmm, [] {
    if (::syscall(SYS_ioctl, -1, KVM_SET_USER_MEMORY_REGION, 0) != -1) ::syscall(SYS_exit_group, 2);  // EBADF
    if (::syscall(SYS_ioctl, -1, KVM_RUN, 0) != -1) ::syscall(SYS_exit_group, 2);
    if (::syscall(SYS_ioctl, -1, snapfaas::runner::kvm_abi::kSetMsrs, 0) != -1) ::syscall(SYS_exit_group, 2);
    ::syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    // clone3 answers ENOSYS (its flags are out of the filter's sight): glibc falls back to clone.
    if (::syscall(SYS_clone3, nullptr, 0) != -1 || errno != ENOSYS) ::syscall(SYS_exit_group, 3);
  }));
  CHECK(killed(ThreadRole::kVmm, [] {
    termios t{};
    ::syscall(SYS_ioctl, 0, TCGETS, &t);
  }));
  CHECK(killed(ThreadRole::kVmm, [] { ::syscall(SYS_ioctl, -1, KVM_CREATE_VM, 0); }));  // set-up only
  CHECK(killed(ThreadRole::kVmm, [] { ::syscall(SYS_unlinkat, AT_FDCWD, "/nonexistent", 0); }));
  CHECK(killed(ThreadRole::kVmm, [] { ::syscall(SYS_renameat, AT_FDCWD, "/a", AT_FDCWD, "/b"); }));
  CHECK(killed(ThreadRole::kVmm, [] { ::syscall(SYS_ftruncate, 0, 0); }));
}

TEST_CASE("vcpu role: KVM_RUN, vCPU state and disk I/O; no clone at all, no VM-wide ioctl") {
  const Outcome o = run_child(ThreadRole::kVcpu, [](int out) {
    const char b = 'v';
    ::syscall(SYS_write, out, &b, 1);
    if (::syscall(SYS_ioctl, -1, KVM_RUN, 0) != -1) ::syscall(SYS_exit_group, 2);  // EBADF: allowed
    if (::syscall(SYS_pwrite64, -1, &b, 1, 0) != -1) ::syscall(SYS_exit_group, 2);
    ::syscall(SYS_exit_group, 0);
  });
  CHECK(o.exited);
  CHECK(o.code == 0);
  CHECK(o.byte == 'v');
  CHECK(killed(ThreadRole::kVcpu, [] { ::syscall(SYS_ioctl, -1, KVM_SET_USER_MEMORY_REGION, 0); }));
  CHECK(killed(ThreadRole::kVcpu, [] { ::syscall(SYS_ioctl, -1, KVM_IRQFD, 0); }));
  CHECK(killed(ThreadRole::kVcpu, [] { ::syscall(SYS_unlinkat, AT_FDCWD, "/nonexistent", 0); }));
  CHECK(killed(ThreadRole::kVcpu, [] { ::syscall(SYS_eventfd2, 0, 0); }));
#if !defined(__SANITIZE_ADDRESS__)
  CHECK(killed(ThreadRole::kVcpu, [] {  // a thread-shaped clone: still none
    ::syscall(SYS_clone, CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD, nullptr, nullptr, nullptr, 0);
  }));
#endif
}

TEST_CASE("control and net-rx roles: no ioctl at all; net-rx reads and waits on epoll, control does neither") {
  CHECK(killed(ThreadRole::kControl, [] { ::syscall(SYS_ioctl, -1, KVM_RUN, 0); }));
  CHECK(killed(ThreadRole::kControl, [] { ::syscall(SYS_read, -1, nullptr, 0); }));
  CHECK(killed(ThreadRole::kControl, [] { ::syscall(SYS_epoll_wait, -1, nullptr, 1, 0); }));
  CHECK(killed(ThreadRole::kNetRx, [] { ::syscall(SYS_ioctl, -1, KVM_RUN, 0); }));
  CHECK(killed(ThreadRole::kNetRx, [] { ::syscall(SYS_pwrite64, -1, nullptr, 0, 0); }));
  CHECK(allowed(ThreadRole::kNetRx, [] {
    ::syscall(SYS_read, -1, nullptr, 0);
    ::syscall(SYS_epoll_wait, -1, nullptr, 1, 0);
  }));
}

TEST_CASE("saver role: files only relative to its directory, created write-only; KVM state read, never set") {
  SaverDir dir;
  snapfaas::runner::FilterArgs args;
  args.snapshot_dir_fd = dir.fd;
  const int fd = dir.fd;
  const int pagemap = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  REQUIRE(pagemap >= 0);
  CHECK(allowed(ThreadRole::kSaver, [fd, pagemap] {
    const long f = ::syscall(SYS_openat, fd, "a", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f < 0) ::syscall(SYS_exit_group, 2);
    ::syscall(SYS_ftruncate, f, 4096);
    ::syscall(SYS_fsync, f);
    if (::syscall(SYS_renameat, fd, "a", fd, "b") != 0) ::syscall(SYS_exit_group, 3);
    if (::syscall(SYS_unlinkat, fd, "b", 0) != 0) ::syscall(SYS_exit_group, 4);
    if (::syscall(SYS_ioctl, -1, KVM_GET_REGS, 0) != -1) ::syscall(SYS_exit_group, 5);
    // The --dump_ws writer reads /proc/self/pagemap (opened before its program) with pread.
    std::uint64_t entry = 0;
    if (::syscall(SYS_pread64, pagemap, &entry, sizeof entry, 0) != sizeof entry) ::syscall(SYS_exit_group, 6);
  }, args));
#if !defined(__SANITIZE_ADDRESS__)  // the sanitizer runtime needs openat with any arguments
  CHECK(killed(ThreadRole::kSaver, [fd] { ::syscall(SYS_openat, fd, "a", O_RDONLY); }, args));  // no reading
  CHECK(killed(ThreadRole::kSaver, [] { ::syscall(SYS_openat, AT_FDCWD, "/tmp/a", O_WRONLY | O_CREAT, 0644); }, args));
#endif
  CHECK(killed(ThreadRole::kSaver, [fd] { ::syscall(SYS_renameat, fd, "a", AT_FDCWD, "/tmp/b"); }, args));
  CHECK(killed(ThreadRole::kSaver, [] { ::syscall(SYS_unlinkat, AT_FDCWD, "/tmp/a", 0); }, args));
  CHECK(killed(ThreadRole::kSaver, [] { ::syscall(SYS_ioctl, -1, KVM_SET_REGS, 0); }, args));
  CHECK(killed(ThreadRole::kSaver, [] { ::syscall(SYS_ioctl, -1, KVM_SET_USER_MEMORY_REGION, 0); }, args));
  CHECK_THROWS(snapfaas::runner::CompiledSeccomp::compile(ThreadRole::kSaver, {}));  // no directory: no program
  ::close(pagemap);
}

TEST_CASE("allowlists: every thread created after lock-down inherits the VMM program, so theirs are subsets") {
  using snapfaas::runner::allowed_syscalls;
  const auto vmm = allowed_syscalls(ThreadRole::kVmm);
  for (ThreadRole role : {ThreadRole::kVcpu, ThreadRole::kControl, ThreadRole::kNetRx}) {
    const auto names = allowed_syscalls(role);
    CHECK(names.size() < vmm.size());
    for (auto name : names) CHECK_MESSAGE(std::find(vmm.begin(), vmm.end(), name) != vmm.end(), name);
  }
#if !defined(__SANITIZE_ADDRESS__)
  for (ThreadRole role : kRoles) {
    const auto names = allowed_syscalls(role);
    for (std::string_view path_call : {"open", "openat", "unlink", "unlinkat", "rename", "renameat", "mkdir", "mkdirat",
                                       "symlinkat", "socket", "execve", "rt_sigaction"}) {
      const bool saver_may = role == ThreadRole::kSaver &&
                             (path_call == "openat" || path_call == "unlinkat" || path_call == "renameat");
      CHECK_MESSAGE((std::find(names.begin(), names.end(), path_call) != names.end()) == saver_may,
                    snapfaas::runner::role_name(role) << " and " << path_call);
    }
  }
#endif
}

TEST_CASE("a vcpu program compiled ahead and installed later allows and kills like install_seccomp") {
  using snapfaas::runner::CompiledSeccomp;
  // Compiled in this (the parent) process, installed in the child: as a pre-spawned runner
  // compiles at create and its vCPU threads install when they start.
  const CompiledSeccomp vcpu = CompiledSeccomp::compile(ThreadRole::kVcpu, {});
  const Outcome ok = run_installed([&vcpu] { vcpu.install(); }, [](int out) {
    const char b = 'c';
    ::syscall(SYS_write, out, &b, 1);
    if (::syscall(SYS_ioctl, -1, KVM_RUN, 0) != -1) ::syscall(SYS_exit_group, 2);
    ::syscall(SYS_exit_group, 0);
  });
  CHECK(ok.exited);
  CHECK(ok.code == 0);
  CHECK(ok.byte == 'c');
  CHECK(run_installed([&vcpu] { vcpu.install(); }, [](int) { ::syscall(SYS_socket, AF_INET, SOCK_STREAM, 0); }).signal ==
        SIGSYS);
  CHECK(run_installed([&vcpu] { vcpu.install(); }, [](int) {
          termios t{};
          ::syscall(SYS_ioctl, 0, TCGETS, &t);
        }).signal == SIGSYS);
}

TEST_CASE("a program compiled with seccomp disabled installs nothing") {
  using snapfaas::runner::CompiledSeccomp;
  const CompiledSeccomp none = CompiledSeccomp::compile(ThreadRole::kVcpu, {.enabled = false});
  const Outcome o = run_installed([&none] { none.install(); }, [](int) {
    const long fd = ::syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
    ::syscall(SYS_exit_group, fd >= 0 ? 0 : 4);
  });
  CHECK(o.exited);
  CHECK(o.code == 0);
}
