// Doorbell futex calls. Shared (non-private) futexes: the word lives in a MAP_SHARED object that
// other processes map, so FUTEX_PRIVATE_FLAG must not be used (futex(2)).
#include "ipc/doorbell.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <ctime>

namespace snapfaas::ipc {

void Doorbell::wake() noexcept {
  std::atomic_ref(word_->seq).fetch_add(1, std::memory_order_release);  // pairs with wait()'s acquire load
  ::syscall(SYS_futex, &word_->seq, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

bool Doorbell::park(std::uint32_t key, WaitOptions::Clock::time_point deadline) noexcept {
  timespec ts{};
  timespec* timeout = nullptr;
  if (deadline != WaitOptions::Clock::time_point::max()) {
    // libstdc++'s steady_clock reads CLOCK_MONOTONIC, the clock FUTEX_WAIT_BITSET uses by default.
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch()).count();
    if (ns <= 0) return false;
    ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    timeout = &ts;
  }
  const long r = ::syscall(SYS_futex, &word_->seq, FUTEX_WAIT_BITSET, key, timeout, nullptr,
                           FUTEX_BITSET_MATCH_ANY);
  return !(r == -1 && errno == ETIMEDOUT);
}

}  // namespace snapfaas::ipc
