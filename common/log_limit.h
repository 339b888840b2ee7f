// LogLimit: rate limiting for log lines a guest (or a runner) can trigger at will. Each call site
// owns one limiter (SNAPFAAS_LIMITED_LOG declares it): the first kBurst occurrences are logged,
// after that at most one per kInterval, carrying how many were suppressed since the last one. A
// guest repeating a bad register write, a malformed virtio chain or a snapshot point therefore
// costs the host a handful of lines, not one per exit (absl's LOG_EVERY_N_SEC, per site).
#pragma once

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace snapfaas::common {

/// One call site's budget. Thread-safe (any thread may log through it); constant-initialised, so a
/// function-local static costs no guard.
class LogLimit {
 public:
  static constexpr std::uint64_t kBurst = 10;
  static constexpr std::chrono::nanoseconds kInterval = std::chrono::seconds(1);

  constexpr LogLimit() noexcept = default;

  /// Counts one occurrence. True when it may be logged; `suppressed` is then the number of
  /// occurrences dropped since the previous logged one.
  [[nodiscard]] bool allow(std::uint64_t& suppressed) noexcept;

  /// Occurrences counted so far (tests).
  [[nodiscard]] std::uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }

 private:
  // All relaxed: counters only, nothing else is published through them. next_ns_ is claimed by
  // compare-exchange so that one thread per interval wins the line.
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::int64_t> next_ns_{0};
};

/// " (N similar lines suppressed)" or "".
[[nodiscard]] std::string suppressed_note(std::uint64_t suppressed);

}  // namespace snapfaas::common

/// Logs through spdlog at LEVEL (spdlog::level::warn, ...) with a limiter private to this call
/// site. Arguments as for spdlog::log: a format string and its values.
#define SNAPFAAS_LIMITED_LOG(LEVEL, ...)                                                                 \
  do {                                                                                                   \
    static ::snapfaas::common::LogLimit snapfaas_log_limit_;                                            \
    if (std::uint64_t snapfaas_suppressed_ = 0;                                                          \
        ::spdlog::should_log(LEVEL) && snapfaas_log_limit_.allow(snapfaas_suppressed_)) {               \
      ::spdlog::log(LEVEL, "{}{}", ::fmt::format(__VA_ARGS__),                                           \
                    ::snapfaas::common::suppressed_note(snapfaas_suppressed_));                         \
    }                                                                                                    \
  } while (false)
