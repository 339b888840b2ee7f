// ConsoleLog: where one runner slot's guest console goes. The runner's stdout (the guest's serial
// console and a ring-3 guest's debug port) is a non-blocking pipe whose read end the supervisor
// drains into <dir>/runner-<slot>.log: never into the supervisor's stdout (where result lines go),
// so a guest can neither forge a result line nor lose its console when its VM dies. Bounded (at
// most `max_bytes` per file; the previous file is kept once as .log.1) and rate-limited (a token
// bucket of `rate_bytes_per_s`, burst `burst_bytes`; excess is dropped and counted in the file). A
// guest writing faster than the pipe drains loses console bytes, never blocks its vCPU: the pipe's
// write end is non-blocking and the serial device drops on EAGAIN.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "common/unique_fd.h"

namespace snapfaas::supervisor {

struct ConsoleLimits {
  std::uint64_t max_bytes = 1 << 20;            ///< per log file; then rotated to .log.1 (one kept)
  std::uint64_t rate_bytes_per_s = 64 * 1024;   ///< sustained console rate kept per runner
  std::uint64_t burst_bytes = 256 * 1024;       ///< bytes kept at once before the rate applies
};

/// One slot's console log. Single-threaded (the event loop); move-only through its fds.
class ConsoleLog {
 public:
  using Clock = std::chrono::steady_clock;

  /// Opens (appends to) <dir>/runner-<slot>.log. Throws common::Error.
  ConsoleLog(const std::string& dir, std::uint32_t slot, ConsoleLimits limits);

  /// A new pipe for the next runner process; returns its write end (dup2 it onto the runner's
  /// stdout, then close it here). Drains and closes the previous pipe first. Writes a separator
  /// line naming the generation. Throws common::Error.
  [[nodiscard]] common::UniqueFd open_pipe(unsigned generation);
  /// Moves what the pipe holds into the file, within the limits. Cheap when empty (one read).
  void drain() noexcept;
  /// Drains what is left and closes the pipe (the runner is gone).
  void close_pipe() noexcept;

  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  [[nodiscard]] std::uint64_t written() const noexcept { return written_total_; }
  [[nodiscard]] std::uint64_t dropped() const noexcept { return dropped_total_; }

 private:
  void write_file(const char* data, std::size_t size) noexcept;
  void note_dropped() noexcept;
  void refill(Clock::time_point now) noexcept;

  std::string path_;
  ConsoleLimits limits_;
  common::UniqueFd file_;
  common::UniqueFd pipe_;
  std::uint64_t file_bytes_ = 0;
  double tokens_ = 0;
  Clock::time_point refilled_{};
  std::uint64_t dropped_pending_ = 0;  // dropped since the last note in the file
  std::uint64_t written_total_ = 0;
  std::uint64_t dropped_total_ = 0;
};

}  // namespace snapfaas::supervisor
