// supervisor/console_log.h: a runner's console pipe into a bounded, rate-limited log file.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "supervisor/console_log.h"

namespace fs = std::filesystem;
using snapfaas::supervisor::ConsoleLimits;
using snapfaas::supervisor::ConsoleLog;

namespace {

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("snapfaas-console-test-" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    REQUIRE(n > 0);
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace

TEST_CASE("console log: what the runner writes lands in runner-N.log, after a generation line") {
  TempDir dir;
  ConsoleLog log(dir.path.string(), 3, {});
  CHECK(log.path() == (dir.path / "runner-3.log").string());
  auto fd = log.open_pipe(1);
  write_all(fd.get(), "[    0.000000] Linux version 6.1\nhello from the guest\n");
  log.drain();
  const std::string text = read(log.path());
  CHECK(text.find("runner generation 1") != std::string::npos);
  CHECK(text.find("hello from the guest\n") != std::string::npos);
  CHECK(log.dropped() == 0);
}

TEST_CASE("console log: past the burst, bytes are dropped and counted, never blocking the writer") {
  TempDir dir;
  const auto t0 = std::chrono::steady_clock::now();
  ConsoleLog log(dir.path.string(), 0, {.max_bytes = 1 << 20, .rate_bytes_per_s = 1000, .burst_bytes = 2000});
  auto fd = log.open_pipe(1);
  // The write end is non-blocking: a guest flooding its console fills the pipe and gets EAGAIN.
  std::string chunk(4096, 'x');
  std::size_t written = 0;
  for (int i = 0; i < 1024; ++i) {
    const ssize_t n = ::write(fd.get(), chunk.data(), chunk.size());
    if (n < 0) {
      CHECK(errno == EAGAIN);
      break;
    }
    written += static_cast<std::size_t>(n);
  }
  CHECK(written < 1024 * chunk.size());
  log.close_pipe();
  // The burst, the two notes, and what the rate refilled meanwhile (this process may be descheduled
  // for a while on a loaded machine: a fixed 200-byte slack failed once at load 15).
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto allowed = static_cast<std::size_t>(2000 + 200 + 1000 * seconds);
  const std::string text = read(log.path());
  CHECK(log.written() < allowed);
  CHECK(log.dropped() + allowed >= written);
  CHECK(text.find("console bytes dropped (rate limit)") != std::string::npos);
}

TEST_CASE("console log: a file past max_bytes is rotated once (.log.1), so the total stays bounded") {
  TempDir dir;
  ConsoleLog log(dir.path.string(), 1, {.max_bytes = 4096, .rate_bytes_per_s = 1 << 30, .burst_bytes = 1 << 30});
  auto fd = log.open_pipe(1);
  for (int i = 0; i < 20; ++i) {
    write_all(fd.get(), std::string(1000, static_cast<char>('a' + i)) + "\n");
    log.drain();
  }
  CHECK(fs::file_size(log.path()) <= 4096);
  CHECK(fs::file_size(log.path() + ".1") <= 4096);
  CHECK(read(log.path()).find(std::string(1000, 't')) != std::string::npos);  // the newest lines kept
}
