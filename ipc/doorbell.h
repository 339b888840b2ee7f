// Doorbell: the wake/sleep protocol of one ring direction — a bounded spin, then a cross-process
// futex on DoorbellWord::seq, with a "sleeping" count so producers only pay for FUTEX_WAKE when a
// consumer really parks. A runner runs the consumer half on behalf of a guest that cannot futex.
// wait_any parks on many doorbells at once (the supervisor, one per runner). Every futex call of
// the project lives in ipc/doorbell.cpp.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>

#include "ipc/adaptive_spin.h"
#include "ipc/channel_layout.h"
#include "ipc/ipc_error.h"

namespace snapfaas::ipc {

static_assert(std::atomic_ref<std::uint32_t>::is_always_lock_free);

/// How long to poll and how long to wait. steady_clock is CLOCK_MONOTONIC (the futex clock).
struct WaitOptions {
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::nanoseconds kSpinForever = std::chrono::nanoseconds::max();

  std::chrono::nanoseconds spin = std::chrono::microseconds(20);  ///< poll this long before parking
  Clock::time_point deadline = Clock::time_point::max();          ///< give up (kTimedOut) at this time
  /// sched_yield between spin rounds: a peer that must run on this core to answer (more runnable
  /// threads than cores; a woken peer placed on the waker's core) gets it instead of waiting for
  /// the spin to end. The supervisor's loop does the same (--loop_spin_yield).
  bool yield = false;

  /// Default spin, deadline `timeout` from now.
  [[nodiscard]] static WaitOptions within(std::chrono::nanoseconds timeout) noexcept {
    return WaitOptions{.deadline = Clock::now() + timeout};
  }
};

/// Pause hint for spin loops.
inline void cpu_relax() noexcept { spin_pause(); }

namespace detail {
/// sched_yield(2).
void yield_cpu() noexcept;
}  // namespace detail

/// steady_clock (CLOCK_MONOTONIC) in ns: the clock host waiters give adaptive_poll.
[[nodiscard]] inline std::uint64_t steady_ns() noexcept {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(WaitOptions::Clock::now().time_since_epoch()).count());
}

/// Nanoseconds from now to `deadline` (0 when passed), for adaptive_poll's limit.
[[nodiscard]] inline std::uint64_t ns_until(WaitOptions::Clock::time_point deadline) noexcept {
  const WaitOptions::Clock::time_point now = WaitOptions::Clock::now();
  if (deadline <= now) return 0;
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - now).count());
}

/// A non-negative duration as adaptive_poll units (ns).
[[nodiscard]] inline std::uint64_t spin_units(std::chrono::nanoseconds d) noexcept {
  return d.count() > 0 ? static_cast<std::uint64_t>(d.count()) : 0;
}

/// One direction's doorbell over a DoorbellWord in shared memory. Producer side: ring() after each
/// push (or needs_wake()/wake() split across processes when a guest produces). Consumer side:
/// wait(). Any number of consumers (each parks with its own count in `sleeping`) and wakers; a
/// wake wakes every parked consumer. Does not own the word. The
/// object is process-local (its spin statistics are not shared).
class Doorbell {
 public:
  Doorbell() noexcept = default;
  explicit Doorbell(DoorbellWord* word) noexcept : word_(word) {}

  /// Producer, after publishing (release store of the ring tail): true when the consumer is parked
  /// or about to park and must be woken. The SEQ_CST fence pairs with the one in wait(): either
  /// this load sees sleeping = 1, or the consumer's re-check sees the new entry.
  [[nodiscard]] bool needs_wake() const noexcept {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return std::atomic_ref(word_->sleeping).load(std::memory_order_relaxed) != 0;
  }

  /// Bumps seq (release: pairs with the sleeper's acquire load of seq) and issues FUTEX_WAKE.
  void wake() noexcept;

  /// needs_wake() then wake() if so: the whole producer half for host producers.
  void ring() noexcept {
    if (needs_wake()) wake();
  }

  /// Consumer: returns as soon as `ready()` is true (polling for options.spin, then parking on the
  /// futex); kTimedOut at options.deadline. `ready` must be cheap and side-effect free (e.g.
  /// RingConsumer::readable); it is called again after every wakeup, so spurious wakes are harmless.
  ///
  /// Adaptive spin (ipc/adaptive_spin.h, this object's own AdaptiveSpin): options.spin is the most
  /// it polls; how long it really polls follows what its last waits saw (a short spin while work
  /// comes quickly, none while spins keep running out, with a full-length probe now and then).
  template <typename Ready>
  [[nodiscard]] Status wait(Ready&& ready, const WaitOptions& options) noexcept {
    spin_.set_max(spin_units(options.spin));
    auto round_end = [yield = options.yield] {
      if (yield) detail::yield_cpu();
    };
    if (adaptive_poll(spin_, ready, steady_ns, round_end, ns_until(options.deadline))) return {};
    ++parks_;
    auto seq = std::atomic_ref(word_->seq);
    auto sleeping = std::atomic_ref(word_->sleeping);
    for (;;) {
      // Order: load the futex key, announce sleeping, full fence, re-check, then sleep only if seq
      // still equals the key. A producer that published after our re-check sees sleeping = 1 (by
      // the fences) and bumps seq, so FUTEX_WAIT either returns EAGAIN or is woken.
      // `sleeping` counts parked consumers: the runner doorbell has two (the boot-phase control
      // thread and the vCPU's WAIT), and one leaving must not hide the other from producers.
      const std::uint32_t key = seq.load(std::memory_order_acquire);  // pairs with wake()'s fetch_add
      sleeping.fetch_add(1, std::memory_order_relaxed);
      std::atomic_thread_fence(std::memory_order_seq_cst);  // pairs with needs_wake()'s fence
      if (ready()) {
        sleeping.fetch_sub(1, std::memory_order_relaxed);
        return {};
      }
      const bool timed_out = !park(key, options.deadline);
      sleeping.fetch_sub(1, std::memory_order_relaxed);
      if (ready()) return {};
      if (timed_out) return IpcError::kTimedOut;
    }
  }

  [[nodiscard]] DoorbellWord* word() const noexcept { return word_; }
  /// Waits of this object that went on to park (their spin ran out or was skipped). Same thread as wait().
  [[nodiscard]] std::uint64_t parks() const noexcept { return parks_; }
  /// This object's spin policy (process-local). Same thread as wait().
  [[nodiscard]] const AdaptiveSpin& spin_policy() const noexcept { return spin_; }

 private:
  /// FUTEX_WAIT_BITSET on seq while it equals `key`, until `deadline` (absolute, monotonic).
  /// False only on timeout; true on wake, EAGAIN (seq changed) or a signal.
  bool park(std::uint32_t key, WaitOptions::Clock::time_point deadline) noexcept;

  DoorbellWord* word_ = nullptr;
  AdaptiveSpin spin_;        // this object's spin statistics (process-local)
  std::uint64_t parks_ = 0;  // waits that parked (process-local)
};

/// Most doorbells one park covers: FUTEX_WAITV_MAX, the kernel's limit for futex_waitv(2).
inline constexpr std::size_t kMaxWaitAny = 128;
/// With more than kMaxWaitAny doorbells, parks last at most this long (the rest are polled).
inline constexpr std::chrono::milliseconds kWaitAnyOverflowPoll{1};

namespace detail {
/// futex_waitv(2) (FUTEX_32, shared) on each words[i]->seq while it equals keys[i], or
/// clock_nanosleep(2) when `words` is empty, until `deadline` (absolute, CLOCK_MONOTONIC; max():
/// none). Returns on a wake, a changed word, a signal or the deadline; where the kernel lacks
/// futex_waitv (ENOSYS) after a short sleep instead. At most kMaxWaitAny words.
void park_any(std::span<DoorbellWord* const> words, std::span<const std::uint32_t> keys,
              WaitOptions::Clock::time_point deadline) noexcept;
}  // namespace detail

/// Consumer of several doorbells at once (e.g. the supervisor's doorbell of every runner): returns
/// as soon as `ready()` holds, parking on all of `bells` meanwhile; kTimedOut at `deadline`. With
/// `spin` (the caller's AdaptiveSpin in ns, one per waiting thread), first polls `ready` as
/// adaptive_poll decides (sched_yield between rounds when spin->yields()); without, no spin. The protocol of Doorbell::wait for each word: load seq ACQUIRE (pairs with wake()'s
/// fetch_add), add 1 to sleeping, SEQ_CST fence (pairs with needs_wake()'s), re-check `ready`,
/// park, subtract 1. `ready` must be cheap and side-effect free and cover every ring behind
/// `bells`. With more than kMaxWaitAny bells the first kMaxWaitAny are parked on and each park
/// lasts at most kWaitAnyOverflowPoll, so the others are still noticed. With none it sleeps to the
/// deadline (unless ready). Does not own the bells; any thread (the bells' objects are only read).
template <typename Ready>
[[nodiscard]] Status wait_any(std::span<Doorbell* const> bells, Ready&& ready, WaitOptions::Clock::time_point deadline,
                              AdaptiveSpin* spin = nullptr) noexcept {
  using Clock = WaitOptions::Clock;
  if (spin != nullptr) {
    const bool yield = spin->yields();
    auto round_end = [yield] {
      if (yield) detail::yield_cpu();
    };
    if (adaptive_poll(*spin, ready, steady_ns, round_end, ns_until(deadline))) return {};
  }
  const std::size_t n = std::min(bells.size(), kMaxWaitAny);
  std::array<DoorbellWord*, kMaxWaitAny> words{};
  std::array<std::uint32_t, kMaxWaitAny> keys{};
  for (std::size_t i = 0; i < n; ++i) words[i] = bells[i]->word();
  for (;;) {
    if (ready()) return {};
    const Clock::time_point now = Clock::now();
    if (now >= deadline) return IpcError::kTimedOut;
    Clock::time_point park_until = deadline;
    if (bells.size() > kMaxWaitAny && deadline - now > kWaitAnyOverflowPoll) park_until = now + kWaitAnyOverflowPoll;
    for (std::size_t i = 0; i < n; ++i) {
      keys[i] = std::atomic_ref(words[i]->seq).load(std::memory_order_acquire);  // pairs with wake()'s fetch_add
      std::atomic_ref(words[i]->sleeping).fetch_add(1, std::memory_order_relaxed);
    }
    std::atomic_thread_fence(std::memory_order_seq_cst);  // pairs with needs_wake()'s fence
    const bool ready_now = ready();
    if (!ready_now) detail::park_any(std::span(words.data(), n), std::span(keys.data(), n), park_until);
    for (std::size_t i = 0; i < n; ++i) std::atomic_ref(words[i]->sleeping).fetch_sub(1, std::memory_order_relaxed);
    if (ready_now) return {};
  }
}

}  // namespace snapfaas::ipc
