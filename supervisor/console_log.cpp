// ConsoleLog: runner console pipe → bounded, rate-limited log file (see console_log.h).
#include "supervisor/console_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>

#include "common/error.h"

namespace snapfaas::supervisor {
namespace {

constexpr int kPipeSize = 256 * 1024;  // F_SETPIPE_SZ: what a runner may write between two drains

common::UniqueFd open_log(const std::string& path) {
  common::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
  if (!fd) throw common::sys_error("open console log " + path);
  return fd;
}

}  // namespace

ConsoleLog::ConsoleLog(const std::string& dir, std::uint32_t slot, ConsoleLimits limits)
    : path_(dir + "/runner-" + std::to_string(slot) + ".log"), limits_(limits) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw common::sys_error("create console directory " + dir, ec.value());
  file_ = open_log(path_);
  struct stat st {};
  if (::fstat(file_.get(), &st) == 0) file_bytes_ = static_cast<std::uint64_t>(st.st_size);
  tokens_ = static_cast<double>(limits_.burst_bytes);
  refilled_ = Clock::now();
}

common::UniqueFd ConsoleLog::open_pipe(unsigned generation) {
  close_pipe();
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) throw common::sys_error("console pipe");
  pipe_.reset(fds[0]);
  common::UniqueFd write_end(fds[1]);
  (void)::fcntl(fds[1], F_SETPIPE_SZ, kPipeSize);  // best effort: the default 64 KiB works too
  char line[96];
  const int n = std::snprintf(line, sizeof line, "=== snapfaas-supervisor: runner generation %u ===\n", generation);
  write_file(line, static_cast<std::size_t>(n));
  return write_end;
}

void ConsoleLog::refill(Clock::time_point now) noexcept {
  const double seconds = std::chrono::duration<double>(now - refilled_).count();
  refilled_ = now;
  tokens_ = std::min(static_cast<double>(limits_.burst_bytes),
                     tokens_ + seconds * static_cast<double>(limits_.rate_bytes_per_s));
}

void ConsoleLog::drain() noexcept {
  if (!pipe_) return;
  char buffer[16 * 1024];
  for (;;) {
    const ssize_t n = ::read(pipe_.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // EAGAIN: empty; 0: every writer gone
    refill(Clock::now());
    const auto size = static_cast<std::size_t>(n);
    const std::size_t keep = std::min(size, static_cast<std::size_t>(std::max(0.0, tokens_)));
    if (keep > 0) {
      if (dropped_pending_ > 0) note_dropped();
      write_file(buffer, keep);
      tokens_ -= static_cast<double>(keep);
    }
    dropped_pending_ += size - keep;
    dropped_total_ += size - keep;
  }
}

void ConsoleLog::close_pipe() noexcept {
  drain();
  if (dropped_pending_ > 0) note_dropped();
  pipe_.reset();
}

void ConsoleLog::note_dropped() noexcept {
  char line[112];
  const int n = std::snprintf(line, sizeof line, "\n=== snapfaas-supervisor: %llu console bytes dropped (rate limit) ===\n",
                              static_cast<unsigned long long>(dropped_pending_));
  dropped_pending_ = 0;
  write_file(line, static_cast<std::size_t>(n));
}

void ConsoleLog::write_file(const char* data, std::size_t size) noexcept {
  if (file_bytes_ + size > limits_.max_bytes) {  // rotate: keep one previous file
    const std::string old = path_ + ".1";
    (void)::rename(path_.c_str(), old.c_str());
    try {
      file_ = open_log(path_);
    } catch (const std::exception&) {
      file_.reset();
    }
    file_bytes_ = 0;
  }
  if (!file_) return;
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(file_.get(), data + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // disk full: console bytes are not worth stopping for
    done += static_cast<std::size_t>(n);
  }
  file_bytes_ += done;
  written_total_ += done;
}

}  // namespace snapfaas::supervisor
