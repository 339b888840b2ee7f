// AdaptiveSpin: how long a waiter polls for its next piece of work before it parks (a futex, a
// WAIT exit), tuned from what its last waits saw, and adaptive_poll, the spin loop that applies
// it. The one spin policy of the project: every party that waits on a ring uses it — the host
// doorbells (ipc/doorbell.h: Doorbell::wait, i.e. the runner's WAIT and the bench client, and
// wait_any, i.e. the supervisor's event loop), the guest agent (guest/agent/ring_server.cpp) and
// the ring-3 test guests (tests/guests/window_echo_guest.cpp). Freestanding C++ (ring-3 guests
// build it with -ffreestanding -nostdlib): plain integers in the caller's unit (ns on the host,
// TSC cycles in a ring-3 guest), the clock injected by the caller, no atomics, no allocation.
#pragma once

#include <cstdint>

namespace snapfaas::ipc {

/// Spin while work tends to come within the budget; park at once while it does not.
///   - Spinning: the budget follows the arrivals that spins caught: kHeadroom × their running
///     mean, at least max / kMinFraction and at most max, so a busy peer keeps a short spin and
///     the CPU burnt after the last request of a burst stays small. No hit yet: a full max.
///   - A spin that runs out (a miss) makes the next spin a full max; after kMissesBeforeBackoff
///     misses in a row the waiter parks at once (sparse traffic, an idle or a slow peer, a peer on
///     our own core: spinning would only burn a core), probing with one full-max spin every
///     kProbeInterval waits until a spin catches work again. (A shorter probe would never succeed
///     when the peer needs longer than the probe to answer, e.g. 64 KiB payloads.)
/// `max` may change between waits (set_max; 0: never spin). Process-local, single-threaded (one
/// object per waiting thread).
class AdaptiveSpin {
 public:
  static constexpr std::uint32_t kMissesBeforeBackoff = 4;
  static constexpr std::uint32_t kProbeInterval = 64;
  static constexpr std::uint64_t kHeadroom = 4;
  static constexpr std::uint64_t kMinFraction = 8;

  constexpr AdaptiveSpin() noexcept = default;
  /// `max`: the longest spin, in the caller's unit. With `yield`, the caller's spin gives up the
  /// CPU between polls (a peer that must run on this core to answer gets it).
  explicit constexpr AdaptiveSpin(std::uint64_t max, bool yield = false) noexcept : max_(max), yield_(yield) {}

  [[nodiscard]] constexpr std::uint64_t max() const noexcept { return max_; }
  constexpr void set_max(std::uint64_t max) noexcept { max_ = max; }
  [[nodiscard]] constexpr bool yields() const noexcept { return yield_; }

  /// What next() will return, without counting anything (e.g. to decide whether to ring a doorbell
  /// before spinning or leave it to the park).
  [[nodiscard]] constexpr std::uint64_t peek() const noexcept {
    if (max_ == 0) return 0;
    if (misses_ >= kMissesBeforeBackoff) return (skipped_ + 1) % kProbeInterval == 0 ? max_ : 0;
    if (mean_ == 0) return max_;
    const std::uint64_t floor = max_ / kMinFraction;
    const std::uint64_t budget = mean_ > max_ / kHeadroom ? max_ : mean_ * kHeadroom;
    return budget < floor ? floor : budget;
  }

  /// Units to spin before the next park (0: park at once). Counts a skipped wait while backed off.
  [[nodiscard]] constexpr std::uint64_t next() noexcept {
    const std::uint64_t budget = peek();
    if (max_ != 0 && misses_ >= kMissesBeforeBackoff) ++skipped_;
    return budget;
  }

  /// The spin caught work `after` units into it.
  constexpr void hit(std::uint64_t after) noexcept {
    misses_ = 0;
    skipped_ = 0;
    // +1: a zero mean means "no hit since the last miss". Saturates instead of wrapping.
    const std::uint64_t sample = after < (~std::uint64_t{0} >> 3) ? after + 1 : (~std::uint64_t{0} >> 3);
    mean_ = mean_ == 0 ? sample : (mean_ * 3 + sample) / 4;
  }

  /// A spin of `spun` units (what next() returned) ran out and the waiter parks. A wait that did
  /// not spin (spun == 0) tells nothing.
  constexpr void miss(std::uint64_t spun) noexcept {
    if (spun == 0) return;
    if (misses_ < kMissesBeforeBackoff) ++misses_;
    mean_ = 0;  // the next spin, if any, is a full max
  }

  /// True while parking at once (after kMissesBeforeBackoff misses in a row).
  [[nodiscard]] constexpr bool backed_off() const noexcept { return misses_ >= kMissesBeforeBackoff; }

 private:
  std::uint64_t max_ = 0;
  bool yield_ = false;
  std::uint64_t mean_ = 0;     // running mean (+1) of the arrivals spins caught; 0: none since the last miss
  std::uint32_t misses_ = 0;   // spins in a row that ran out
  std::uint32_t skipped_ = 0;  // waits that skipped the spin while backed off
};

/// Pause hint for spin loops (freestanding: a builtin, no library).
inline void spin_pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/// The spin of one wait: polls `ready()` for `policy.next()` units, or until `limit` units have
/// passed if that is sooner (a deadline; the policy still counts the spin as its own), reading the
/// time with `now()` (same unit, monotonic). Polls in rounds of 64 with a pause hint between polls,
/// reads the clock and calls `round_end()` after each round (nothing, or a sched_yield for a policy
/// that yields()), so a spin always makes at least 64 polls. Tells the policy what it saw. Returns
/// true when `ready()` held during the spin; false without polling when the policy says park at
/// once (the caller re-checks `ready` as part of parking, as Doorbell::wait's protocol does).
template <typename Ready, typename Now, typename RoundEnd>
[[nodiscard]] bool adaptive_poll(AdaptiveSpin& policy, Ready&& ready, Now&& now, RoundEnd&& round_end,
                                 std::uint64_t limit = ~std::uint64_t{0}) noexcept {
  const std::uint64_t budget = policy.next();
  if (budget == 0) return false;
  const std::uint64_t until = budget < limit ? budget : limit;
  const std::uint64_t start = now();
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (ready()) {
        policy.hit(now() - start);
        return true;
      }
      spin_pause();
    }
    if (now() - start >= until) {
      policy.miss(budget);
      return false;
    }
    round_end();
  }
}

}  // namespace snapfaas::ipc
