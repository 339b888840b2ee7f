// Test helper: a child process (fork + execv) with stdout/stderr in temporary files and stdin
// from a file or /dev/null; killed and reaped on destruction.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace snapfaas::test {

class Child {
 public:
  /// Starts argv[0] with argv; `stdin_path` empty: /dev/null.
  explicit Child(const std::vector<std::string>& argv, const std::string& stdin_path = {});
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  /// Exit status (128 + signal when killed) once exited within `timeout`; nullopt otherwise.
  [[nodiscard]] std::optional<int> wait_for(std::chrono::milliseconds timeout);
  [[nodiscard]] bool running();
  void signal(int sig) const;
  [[nodiscard]] std::string out() const;
  [[nodiscard]] std::string err() const;
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string out_path_;
  std::string err_path_;
};

}  // namespace snapfaas::test
