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

  /// Default spin, deadline `timeout` from now.
  [[nodiscard]] static WaitOptions within(std::chrono::nanoseconds timeout) noexcept {
    return WaitOptions{.deadline = Clock::now() + timeout};
  }
};

/// Pause hint for spin loops.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/// One direction's doorbell over a DoorbellWord in shared memory. Producer side: ring() after each
/// push (or needs_wake()/wake() split across processes when a guest produces). Consumer side:
/// wait(). Any number of consumers (each parks with its own count in `sleeping`) and wakers; a
/// wake wakes every parked consumer. Does not own the word. The
/// object is process-local (its spin statistics are not shared).
class Doorbell {
 public:
  static constexpr std::uint32_t kMissesBeforeBackoff = 4;
  static constexpr std::uint32_t kProbeInterval = 64;

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
  /// Adaptive spin: after kMissesBeforeBackoff consecutive spins that ended in parking (a peer on
  /// our own core cannot answer while we spin; an idle peer will not), it parks at once, probing
  /// with a full spin every kProbeInterval-th wait, until a spin succeeds. (A shorter probe would
  /// never succeed when the peer needs longer than the probe to answer, e.g. 64 KiB payloads.)
  template <typename Ready>
  [[nodiscard]] Status wait(Ready&& ready, const WaitOptions& options) noexcept {
    std::chrono::nanoseconds spin_for = options.spin;
    if (misses_ >= kMissesBeforeBackoff) {
      spin_for = ++skipped_ % kProbeInterval == 0 ? options.spin : std::chrono::nanoseconds(0);
    }
    if (spin(ready, spin_for, options.deadline)) {
      misses_ = 0;
      return {};
    }
    if (spin_for.count() > 0 && misses_ < kMissesBeforeBackoff) ++misses_;
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

 private:
  template <typename Ready>
  static bool spin(Ready& ready, std::chrono::nanoseconds spin_for, WaitOptions::Clock::time_point deadline) noexcept {
    if (spin_for.count() <= 0) return ready();
    const auto now = WaitOptions::Clock::now();
    const auto until = spin_for >= deadline - now ? deadline : now + spin_for;
    for (;;) {
      for (int i = 0; i < 64; ++i) {
        if (ready()) return true;
        cpu_relax();
      }
      if (WaitOptions::Clock::now() >= until) return false;
    }
  }

  /// FUTEX_WAIT_BITSET on seq while it equals `key`, until `deadline` (absolute, monotonic).
  /// False only on timeout; true on wake, EAGAIN (seq changed) or a signal.
  bool park(std::uint32_t key, WaitOptions::Clock::time_point deadline) noexcept;

  DoorbellWord* word_ = nullptr;
  std::uint32_t misses_ = 0;   // consecutive spins that ended in parking (process-local)
  std::uint32_t skipped_ = 0;  // waits that skipped the spin while backed off
};

/// The spin budget of a waiter that parks on many doorbells (wait_any), with Doorbell::wait's
/// adaptive policy: a full spin while spins pay off; after kMissesBeforeBackoff consecutive spins
/// that ended in parking, none, probing with a full spin every kProbeInterval-th wait, until a spin
/// succeeds again. A busy waiter thus saves the park, the peer's wake and both context switches; an
/// idle one costs nothing. Process-local; one thread.
class AdaptiveSpin {
 public:
  /// With `yield`, the spin gives up the CPU between polls (sched_yield): a peer that must run on
  /// this core to answer (more runnable threads than cores) gets it instead of waiting a slice.
  explicit AdaptiveSpin(std::chrono::nanoseconds spin, bool yield = false) noexcept : spin_(spin), yield_(yield) {}
  [[nodiscard]] bool yields() const noexcept { return yield_; }

  /// How long the next wait spins.
  [[nodiscard]] std::chrono::nanoseconds next() noexcept {
    if (misses_ < Doorbell::kMissesBeforeBackoff) return spin_;
    return ++skipped_ % Doorbell::kProbeInterval == 0 ? spin_ : std::chrono::nanoseconds(0);
  }
  /// The outcome of a wait that spun for `spun`: ready during the spin (`hit`) or not.
  void record(std::chrono::nanoseconds spun, bool hit) noexcept {
    if (hit) {
      misses_ = 0;
    } else if (spun.count() > 0 && misses_ < Doorbell::kMissesBeforeBackoff) {
      ++misses_;
    }
  }

 private:
  std::chrono::nanoseconds spin_;
  bool yield_ = false;
  std::uint32_t misses_ = 0;
  std::uint32_t skipped_ = 0;
};

/// Most doorbells one park covers: FUTEX_WAITV_MAX, the kernel's limit for futex_waitv(2).
inline constexpr std::size_t kMaxWaitAny = 128;
/// With more than kMaxWaitAny doorbells, parks last at most this long (the rest are polled).
inline constexpr std::chrono::milliseconds kWaitAnyOverflowPoll{1};

namespace detail {
/// sched_yield(2).
void yield_cpu() noexcept;
/// futex_waitv(2) (FUTEX_32, shared) on each words[i]->seq while it equals keys[i], or
/// clock_nanosleep(2) when `words` is empty, until `deadline` (absolute, CLOCK_MONOTONIC; max():
/// none). Returns on a wake, a changed word, a signal or the deadline; where the kernel lacks
/// futex_waitv (ENOSYS) after a short sleep instead. At most kMaxWaitAny words.
void park_any(std::span<DoorbellWord* const> words, std::span<const std::uint32_t> keys,
              WaitOptions::Clock::time_point deadline) noexcept;
}  // namespace detail

/// Consumer of several doorbells at once (e.g. the supervisor's doorbell of every runner): returns
/// as soon as `ready()` holds, parking on all of `bells` meanwhile; kTimedOut at `deadline`. With
/// `spin`, first polls `ready` for as long as it says (then tells it whether that paid off);
/// without, no spin. The protocol of Doorbell::wait for each word: load seq ACQUIRE (pairs with wake()'s
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
    const std::chrono::nanoseconds spin_for = spin->next();
    if (spin_for.count() > 0) {
      const Clock::time_point start = Clock::now();
      const Clock::time_point until = spin_for >= deadline - start ? deadline : start + spin_for;
      bool hit = false;
      for (Clock::time_point now = start; !hit && now < until; now = Clock::now()) {
        for (int i = 0; i < 64 && !hit; ++i) {
          hit = ready();
          if (!hit) cpu_relax();
        }
        if (!hit && spin->yields()) detail::yield_cpu();
      }
      spin->record(spin_for, hit);
      if (hit) return {};
    }
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
