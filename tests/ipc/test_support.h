// Helpers for the ipc tests: unique shm names and fork()ed children whose exit code is the verdict.
// The benchmarks' forked servers (bench/) use fork_child and wait_child too.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>

#include "common/error.h"

namespace snapfaas::ipc::test {

/// A shm name no other test (or concurrent test process) uses.
inline std::string unique_name(const char* what) {
  static std::atomic<int> counter{0};
  return "/snapfaas-test-" + std::to_string(::getpid()) + "-" + what + "-" +
         std::to_string(counter.fetch_add(1, std::memory_order_relaxed));
}

/// Runs `body` in a fork()ed child that _exit()s with its return value (exceptions → 99); returns the
/// child's pid. Throws common::Error when fork() fails.
template <typename F>
pid_t fork_child(F&& body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    int code = 99;
    try {
      code = body();
    } catch (...) {
    }
    ::_exit(code);
  }
  if (pid < 0) throw common::sys_error("fork");
  return pid;
}

/// Waits for `pid`; its exit code, or 128 + signal number.
inline int wait_child(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -2;
}

}  // namespace snapfaas::ipc::test
