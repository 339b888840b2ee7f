// Tests of runner/seccomp (kept with the supervisor tests, which own them): a child process
// installs a role's allowlist; allowed syscalls work, a forbidden one kills it with SIGSYS.
// Children use raw syscalls after installing so that no library code adds calls of its own.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <functional>

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
Outcome run_child(ThreadRole role, const std::function<void(int)>& body) {
  return run_installed([role] { snapfaas::runner::install_seccomp(role); }, body);
}

}  // namespace

TEST_CASE("vcpu role: write, futex, KVM_RUN ioctl and exit are allowed") {
  const Outcome o = run_child(ThreadRole::kVcpu, [](int out) {
    const char b = 'v';
    ::syscall(SYS_write, out, &b, 1);
    // KVM_RUN on a bad fd: allowed by the filter, fails with EBADF.
    if (::syscall(SYS_ioctl, -1, KVM_RUN, 0) != -1) ::syscall(SYS_exit_group, 2);
    std::uint32_t word = 0;
    ::syscall(SYS_futex, &word, 1 /*FUTEX_WAKE*/, 1, nullptr, nullptr, 0);
    ::syscall(SYS_exit_group, 0);
  });
  CHECK(o.exited);
  CHECK(o.code == 0);
  CHECK(o.byte == 'v');
}

TEST_CASE("vcpu role: a non-KVM ioctl, unlinkat or socket dies with SIGSYS") {
  CHECK(run_child(ThreadRole::kVcpu, [](int) {
          termios t{};
          ::syscall(SYS_ioctl, 0, TCGETS, &t);
        }).signal == SIGSYS);
  CHECK(run_child(ThreadRole::kVcpu, [](int) { ::syscall(SYS_unlinkat, AT_FDCWD, "/nonexistent", 0); }).signal ==
        SIGSYS);
  CHECK(run_child(ThreadRole::kVcpu, [](int) { ::syscall(SYS_socket, AF_INET, SOCK_STREAM, 0); }).signal == SIGSYS);
}

TEST_CASE("vmm role: files and any ioctl allowed; socket, execve and mount die with SIGSYS") {
  const Outcome ok = run_child(ThreadRole::kVmm, [](int out) {
    const long fd = ::syscall(SYS_openat, AT_FDCWD, "/proc/self/stat", O_RDONLY);
    if (fd < 0) ::syscall(SYS_exit_group, 3);
    termios t{};
    ::syscall(SYS_ioctl, fd, TCGETS, &t);  // ENOTTY, but allowed
    ::syscall(SYS_close, fd);
    const char b = 'm';
    ::syscall(SYS_write, out, &b, 1);
    ::syscall(SYS_exit_group, 0);
  });
  CHECK(ok.exited);
  CHECK(ok.code == 0);
  CHECK(ok.byte == 'm');
  CHECK(run_child(ThreadRole::kVmm, [](int) { ::syscall(SYS_socket, AF_INET, SOCK_STREAM, 0); }).signal == SIGSYS);
  CHECK(run_child(ThreadRole::kVmm, [](int) {
          char* argv[] = {nullptr};
          ::syscall(SYS_execve, "/bin/true", argv, argv);
        }).signal == SIGSYS);
  CHECK(run_child(ThreadRole::kVmm, [](int) { ::syscall(SYS_mount, "none", "/mnt", "tmpfs", 0, nullptr); }).signal ==
        SIGSYS);
#if !defined(__SANITIZE_ADDRESS__)  // sanitizer builds allow LeakSanitizer's ptrace
  CHECK(run_child(ThreadRole::kVmm, [](int) { ::syscall(SYS_ptrace, 0, 0, 0, 0); }).signal == SIGSYS);
#endif
}

TEST_CASE("allowlists: vcpu is a strict subset of vmm") {
  const auto vcpu = snapfaas::runner::allowed_syscalls(ThreadRole::kVcpu);
  const auto vmm = snapfaas::runner::allowed_syscalls(ThreadRole::kVmm);
  CHECK(vcpu.size() < vmm.size());
  for (auto name : vcpu) CHECK(std::find(vmm.begin(), vmm.end(), name) != vmm.end());
  CHECK(std::find(vcpu.begin(), vcpu.end(), "unlinkat") == vcpu.end());
  CHECK(std::find(vcpu.begin(), vcpu.end(), "socket") == vcpu.end());
}

TEST_CASE("a vcpu program compiled ahead and installed later allows and kills like install_seccomp") {
  using snapfaas::runner::CompiledSeccomp;
  // Compiled in this (the parent) process, installed in the child: as a pre-spawned runner
  // compiles at spawn and its vCPU threads install when they start.
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
