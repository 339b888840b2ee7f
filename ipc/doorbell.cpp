// Doorbell futex calls, the only ones in the project. Shared (non-private) futexes: the words live
// in MAP_SHARED objects that other processes map, so FUTEX_PRIVATE_FLAG must not be used (futex(2)).
#include "ipc/doorbell.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <time.h>

#include <array>
#include <cerrno>
#include <climits>
#include <ctime>
#include <limits>

namespace snapfaas::ipc {

static_assert(kMaxWaitAny == FUTEX_WAITV_MAX);

namespace {
// Absolute CLOCK_MONOTONIC time of `t` (libstdc++'s steady_clock reads CLOCK_MONOTONIC). False
// when `t` is not after the clock's epoch (already passed).
bool to_timespec(WaitOptions::Clock::time_point t, timespec* out) noexcept {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  if (ns <= 0) return false;
  out->tv_sec = static_cast<time_t>(ns / 1'000'000'000);
  out->tv_nsec = static_cast<long>(ns % 1'000'000'000);
  return true;
}
}  // namespace

void Doorbell::wake() noexcept {
  std::atomic_ref(word_->seq).fetch_add(1, std::memory_order_release);  // pairs with wait()'s acquire load
  ::syscall(SYS_futex, &word_->seq, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

bool Doorbell::park(std::uint32_t key, WaitOptions::Clock::time_point deadline) noexcept {
  timespec ts{};
  timespec* timeout = nullptr;
  if (deadline != WaitOptions::Clock::time_point::max()) {
    if (!to_timespec(deadline, &ts)) return false;
    timeout = &ts;  // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time by default
  }
  const long r = ::syscall(SYS_futex, &word_->seq, FUTEX_WAIT_BITSET, key, timeout, nullptr,
                           FUTEX_BITSET_MATCH_ANY);
  return !(r == -1 && errno == ETIMEDOUT);
}

void detail::yield_cpu() noexcept { ::sched_yield(); }

void detail::park_any(std::span<DoorbellWord* const> words, std::span<const std::uint32_t> keys,
                      WaitOptions::Clock::time_point deadline) noexcept {
  timespec ts{};
  timespec* timeout = nullptr;
  if (deadline != WaitOptions::Clock::time_point::max()) {
    if (!to_timespec(deadline, &ts)) return;
    timeout = &ts;
  }
  if (words.empty()) {
    if (timeout == nullptr) ts.tv_sec = std::numeric_limits<time_t>::max();  // no deadline: until a signal
    ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
    return;
  }
  std::array<futex_waitv, kMaxWaitAny> waiters{};
  const std::size_t n = words.size() < kMaxWaitAny ? words.size() : kMaxWaitAny;
  for (std::size_t i = 0; i < n; ++i) {
    // The kernel takes the word's address as a u64; FUTEX_32 without FUTEX_PRIVATE_FLAG: shared.
    waiters[i] = futex_waitv{keys[i], reinterpret_cast<std::uint64_t>(&words[i]->seq), FUTEX_32, 0};
  }
  const long r = ::syscall(SYS_futex_waitv, waiters.data(), static_cast<unsigned>(n), 0, timeout, CLOCK_MONOTONIC);
  if (r == -1 && errno == ENOSYS) {
    const timespec pause{0, 50'000};  // pre-5.16 kernel: poll
    ::nanosleep(&pause, nullptr);
  }
}

}  // namespace snapfaas::ipc
