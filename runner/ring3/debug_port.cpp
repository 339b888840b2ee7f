// DebugPort: ring-3 guest exit/result/console/echo ports.
#include "runner/ring3/debug_port.h"

#include <spdlog/spdlog.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "runner/ring3/ring3_abi.h"

namespace snapfaas::runner {

namespace {
std::uint32_t to_u32(std::span<const std::uint8_t> data) noexcept {
  std::uint32_t v = 0;
  std::memcpy(&v, data.data(), std::min<std::size_t>(data.size(), sizeof v));
  return v;
}

void write_all(int fd, const char* p, std::size_t n) noexcept {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w <= 0) return;  // console errors are not the guest's problem; drop output
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}
}  // namespace

DebugPort::DebugPort(std::function<void(int)> on_exit, int result_fd, int console_fd)
    : on_exit_(std::move(on_exit)), result_fd_(result_fd), console_fd_(console_fd) {}

void DebugPort::read(std::uint64_t offset, std::span<std::uint8_t> data) noexcept {
  if (SNAPFAAS_PORT_FIRST + offset == SNAPFAAS_PORT_ECHO) {
    // acquire pairs with the release store in write(): a guest on another vCPU sees the value.
    const std::uint32_t v = echo_.load(std::memory_order_acquire);
    std::memcpy(data.data(), &v, std::min<std::size_t>(data.size(), sizeof v));
    return;
  }
  std::memset(data.data(), 0xff, data.size());
}

void DebugPort::write(std::uint64_t offset, std::span<const std::uint8_t> data) noexcept {
  // The boot benchmark (bench/boot.cpp) reads this line: CLOCK_MONOTONIC of the guest's first write.
  // relaxed: only decides which write logs; no data is published through it.
  if (!first_io_seen_.exchange(true, std::memory_order_relaxed)) {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    spdlog::debug("first guest port write at monotonic_ns={}", std::int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec);
  }
  const std::uint64_t port = SNAPFAAS_PORT_FIRST + offset;
  const std::uint32_t value = to_u32(data);
  if (port == SNAPFAAS_PORT_EXIT) {
    on_exit_(static_cast<int>(value & 0xff));
  } else if (port == SNAPFAAS_PORT_RESULT) {
    char line[32];
    const int n = std::snprintf(line, sizeof line, "result %u\n", value);
    std::lock_guard lock(out_mutex_);
    write_all(result_fd_, line, static_cast<std::size_t>(n));
    results_.fetch_add(1, std::memory_order_release);
  } else if (port == SNAPFAAS_PORT_CONSOLE) {
    const char c = static_cast<char>(value & 0xff);
    std::lock_guard lock(out_mutex_);
    write_all(console_fd_, &c, 1);
  } else if (port == SNAPFAAS_PORT_ECHO) {
    echo_.store(value, std::memory_order_release);
  }
}

}  // namespace snapfaas::runner
