// FirerunnerProcess: the firerunner child of fc_wrapper (posix_spawn). Its stdout (the guest
// console) is redirected to fc_wrapper's stderr so that stdout carries responses only.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace snapfaas::wrapper {

/// Owns one child process: killed (SIGKILL) and reaped on destruction if still running.
/// Move-only; single-threaded use.
class FirerunnerProcess {
 public:
  /// Starts `path` with `args` (argv[1..]); stdin from /dev/null, stdout to our stderr.
  /// Throws common::Error naming the binary and errno.
  [[nodiscard]] static FirerunnerProcess spawn(const std::string& path, const std::vector<std::string>& args);

  FirerunnerProcess(FirerunnerProcess&& other) noexcept;
  FirerunnerProcess& operator=(FirerunnerProcess&&) = delete;
  FirerunnerProcess(const FirerunnerProcess&) = delete;
  FirerunnerProcess& operator=(const FirerunnerProcess&) = delete;
  ~FirerunnerProcess();

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  /// Reaps the child if it exited: its exit code (128 + signal when killed); nullopt while running.
  [[nodiscard]] std::optional<int> poll() noexcept;
  /// Waits up to `timeout`; nullopt if it is still running then.
  [[nodiscard]] std::optional<int> wait_for(std::chrono::milliseconds timeout) noexcept;
  /// SIGKILL and reap; returns the status as poll() would.
  int kill() noexcept;

 private:
  explicit FirerunnerProcess(pid_t pid) noexcept : pid_(pid) {}
  pid_t pid_ = -1;
  std::optional<int> status_;
};

}  // namespace snapfaas::wrapper
