// AdaptiveSpin and adaptive_poll (ipc/adaptive_spin.h) with an injected clock: every figure here is
// deterministic (no real time, no threads). The clock advances a fixed step per read; `ready` turns
// true after a given number of polls.
#include "ipc/adaptive_spin.h"

#include <doctest/doctest.h>

#include <cstdint>

using snapfaas::ipc::adaptive_poll;
using snapfaas::ipc::AdaptiveSpin;

namespace {

/// A fake clock: each read advances it by `step` units.
struct FakeClock {
  std::uint64_t t = 1000;
  std::uint64_t step = 1;
  std::uint64_t reads = 0;
  std::uint64_t operator()() {
    ++reads;
    return t += step;
  }
};

/// One wait whose work arrives at poll `arrives_at` (never when 0). Returns whether the spin
/// caught it and how many polls it made.
struct Outcome {
  bool hit;
  int polls;
  int rounds;
};
Outcome wait_once(AdaptiveSpin& policy, FakeClock& clock, int arrives_at, std::uint64_t limit = ~std::uint64_t{0}) {
  int polls = 0, rounds = 0;
  const bool hit = adaptive_poll(
      policy, [&] { return ++polls == arrives_at; }, clock, [&] { ++rounds; }, limit);
  return {hit, polls, rounds};
}

/// Misses until the policy backs off (kMissesBeforeBackoff spins that run out).
void back_off(AdaptiveSpin& policy, FakeClock& clock) {
  for (std::uint32_t i = 0; i < AdaptiveSpin::kMissesBeforeBackoff; ++i) {
    CHECK_FALSE(policy.backed_off());
    CHECK_FALSE(wait_once(policy, clock, 0).hit);
  }
  CHECK(policy.backed_off());
}

}  // namespace

TEST_CASE("no max, no spin: adaptive_poll returns false without polling") {
  AdaptiveSpin policy;
  FakeClock clock;
  const Outcome o = wait_once(policy, clock, 1);
  CHECK_FALSE(o.hit);
  CHECK(o.polls == 0);
  CHECK(clock.reads == 0);
}

TEST_CASE("a spin runs for the budget: rounds of 64 polls, the clock read after each round") {
  AdaptiveSpin policy(1000);
  FakeClock clock;
  clock.step = 100;  // each read after a round moves 100 units: 1000 units = 10 rounds
  const Outcome o = wait_once(policy, clock, 0);
  CHECK_FALSE(o.hit);
  CHECK(o.polls == 64 * 10);
  CHECK(o.rounds == 9);  // round_end between rounds, not after the last
  CHECK(policy.next() == 1000);  // one miss: the next spin is a full max
}

TEST_CASE("a deadline shorter than the budget ends the spin early, still at least one round") {
  AdaptiveSpin policy(1000);
  FakeClock clock;
  clock.step = 100;
  CHECK(wait_once(policy, clock, 0, 300).polls == 64 * 3);
  CHECK(wait_once(policy, clock, 0, 0).polls == 64);  // deadline passed: one round of polls
}

TEST_CASE("hits tune the budget to kHeadroom x the mean arrival, between max / kMinFraction and max") {
  AdaptiveSpin policy(100'000);
  FakeClock clock;
  clock.step = 10;  // arrivals at poll 65 = 2 reads after start: ~20 units
  CHECK(policy.next() == 100'000);  // no hit yet: a full max
  const Outcome o = wait_once(policy, clock, 65);
  CHECK(o.hit);
  CHECK(o.polls == 65);
  // mean = 21 (20 + 1): 4 x 21 = 84 < floor 100'000 / 8
  CHECK(policy.next() == 100'000 / AdaptiveSpin::kMinFraction);

  AdaptiveSpin slow(1000);
  slow.hit(200);  // mean 201: 4 x 201 = 804
  CHECK(slow.next() == 804);
  slow.hit(600);  // mean (201 * 3 + 601) / 4 = 301: 4 x 301 = 1204 > max
  CHECK(slow.next() == 1000);
}

TEST_CASE("kMissesBeforeBackoff misses in a row: park at once, probe every kProbeInterval-th wait") {
  AdaptiveSpin policy(1000);
  FakeClock clock;
  clock.step = 500;
  back_off(policy, clock);
  int spins = 0, polls = 0;
  for (std::uint32_t i = 0; i < 2 * AdaptiveSpin::kProbeInterval; ++i) {
    const std::uint64_t peeked = policy.peek();
    CHECK(policy.peek() == peeked);  // peek counts nothing
    const Outcome o = wait_once(policy, clock, 0);
    CHECK_FALSE(o.hit);
    polls += o.polls;
    CHECK((o.polls > 0) == (peeked != 0));  // the wait spun exactly when peek said it would
    if (o.polls > 0) ++spins;
  }
  CHECK(spins == 2);  // only the probes spin
  CHECK(polls == 2 * 64 * 2);
  CHECK(policy.backed_off());
}

TEST_CASE("a probe that catches work ends the back-off; a hit in between resets the miss count") {
  AdaptiveSpin policy(1000);
  FakeClock clock;
  clock.step = 500;
  back_off(policy, clock);
  for (std::uint32_t i = 1; i < AdaptiveSpin::kProbeInterval; ++i) CHECK(wait_once(policy, clock, 5).polls == 0);
  const Outcome probe = wait_once(policy, clock, 5);
  CHECK(probe.hit);
  CHECK_FALSE(policy.backed_off());
  CHECK(policy.next() > 0);

  AdaptiveSpin mixed(1000);
  for (std::uint32_t i = 0; i + 1 < AdaptiveSpin::kMissesBeforeBackoff; ++i) CHECK_FALSE(wait_once(mixed, clock, 0).hit);
  CHECK(wait_once(mixed, clock, 3).hit);  // a hit: the misses in a row start again
  for (std::uint32_t i = 0; i + 1 < AdaptiveSpin::kMissesBeforeBackoff; ++i) CHECK_FALSE(wait_once(mixed, clock, 0).hit);
  CHECK_FALSE(mixed.backed_off());
}

TEST_CASE("a miss after hits restores the full max; max can change between waits") {
  AdaptiveSpin policy(1000);
  policy.hit(10);
  CHECK(policy.next() == 1000 / AdaptiveSpin::kMinFraction);
  policy.miss(policy.next());
  CHECK(policy.next() == 1000);
  policy.set_max(0);
  CHECK(policy.next() == 0);
  policy.miss(0);  // a wait that did not spin tells nothing
  policy.set_max(2000);
  CHECK(policy.next() == 2000);
  CHECK_FALSE(policy.backed_off());
}

TEST_CASE("huge arrivals and maxima do not overflow") {
  AdaptiveSpin policy(~std::uint64_t{0});
  policy.hit(~std::uint64_t{0});
  policy.hit(~std::uint64_t{0});
  CHECK(policy.next() >= ~std::uint64_t{0} / AdaptiveSpin::kMinFraction);  // the mean saturates, never wraps
  AdaptiveSpin forever(static_cast<std::uint64_t>(INT64_MAX));
  forever.hit(1);
  CHECK(forever.next() == static_cast<std::uint64_t>(INT64_MAX) / AdaptiveSpin::kMinFraction);
}
