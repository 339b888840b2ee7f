// DebugPort: the port-I/O device ring-3 test guests talk to (exit code, results, console, echo);
// the protocol is in ring3_abi.h.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>

#include "runner/devices/bus.h"

namespace snapfaas::runner {

/// Placed on the PIO bus at SNAPFAAS_PORT_FIRST for SNAPFAAS_PORT_COUNT ports. Thread-safe.
class DebugPort : public BusDevice {
 public:
  /// `on_exit(code)` runs on the vCPU thread that wrote the exit port. Results go to `result_fd`
  /// as "result <value>\n" lines, console bytes to `console_fd` (fds not owned).
  DebugPort(std::function<void(int)> on_exit, int result_fd, int console_fd);

  void read(std::uint64_t offset, std::span<std::uint8_t> data) noexcept override;
  void write(std::uint64_t offset, std::span<const std::uint8_t> data) noexcept override;

  /// Number of results reported so far.
  [[nodiscard]] std::uint64_t results() const noexcept { return results_.load(std::memory_order_acquire); }

 private:
  std::function<void(int)> on_exit_;
  int result_fd_;
  int console_fd_;
  std::mutex out_mutex_;  // keeps result lines whole when several vCPUs report
  std::atomic<std::uint32_t> echo_{0};
  std::atomic<std::uint64_t> results_{0};
  std::atomic<bool> first_io_seen_{false};
};

}  // namespace snapfaas::runner
