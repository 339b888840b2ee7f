// LogLimit: per-call-site log rate limiting (see log_limit.h).
#include "common/log_limit.h"

#include <time.h>

namespace snapfaas::common {
namespace {

[[nodiscard]] std::int64_t now_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

bool LogLimit::allow(std::uint64_t& suppressed) noexcept {
  suppressed = 0;
  const std::uint64_t n = count_.fetch_add(1, std::memory_order_relaxed);
  const std::int64_t now = now_ns();
  if (n < kBurst) {
    // The burst's last line starts the first interval.
    if (n + 1 == kBurst) next_ns_.store(now + kInterval.count(), std::memory_order_relaxed);
    return true;
  }
  std::int64_t next = next_ns_.load(std::memory_order_relaxed);
  if (now < next || !next_ns_.compare_exchange_strong(next, now + kInterval.count(), std::memory_order_relaxed)) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  suppressed = dropped_.exchange(0, std::memory_order_relaxed);
  return true;
}

std::string suppressed_note(std::uint64_t suppressed) {
  if (suppressed == 0) return {};
  return " (" + std::to_string(suppressed) + " similar lines suppressed)";
}

}  // namespace snapfaas::common
