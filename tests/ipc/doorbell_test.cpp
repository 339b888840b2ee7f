// Doorbell: a parked waiter is woken across processes; no lost wakeups when both sides always
// park; producers skip FUTEX_WAKE when nobody sleeps. wait_any: the same over several words, and
// its optional adaptive spin.
#include "ipc/doorbell.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "ipc/shm_object.h"
#include "tests/ipc/test_support.h"

using namespace snapfaas::ipc;
using namespace std::chrono_literals;
using snapfaas::ipc::test::fork_child;
using snapfaas::ipc::test::unique_name;
using snapfaas::ipc::test::wait_child;

namespace {

// Two doorbells and two counters in one shared page: a ping-pong between processes.
struct PingPong {
  DoorbellWord to_child;
  DoorbellWord to_parent;
  alignas(64) std::uint64_t ping;
  alignas(64) std::uint64_t pong;
};

std::uint64_t load(std::uint64_t& v) { return std::atomic_ref(v).load(std::memory_order_acquire); }
void store(std::uint64_t& v, std::uint64_t x) { std::atomic_ref(v).store(x, std::memory_order_release); }

}  // namespace

TEST_CASE("ring() does not wake or bump seq when nobody sleeps") {
  DoorbellWord word{};
  Doorbell bell(&word);
  CHECK_FALSE(bell.needs_wake());
  bell.ring();
  CHECK(word.seq == 0);
  word.sleeping = 1;
  CHECK(bell.needs_wake());
  bell.ring();
  CHECK(word.seq == 1);
}

TEST_CASE("wait returns at once when ready and times out when never ready") {
  DoorbellWord word{};
  Doorbell bell(&word);
  CHECK(bell.wait([] { return true; }, WaitOptions{}));
  const auto start = std::chrono::steady_clock::now();
  CHECK(bell.wait([] { return false; }, WaitOptions::within(20ms)).error() == IpcError::kTimedOut);
  CHECK(std::chrono::steady_clock::now() - start >= 20ms);
  CHECK(word.sleeping == 0);  // cleared after waking
}

TEST_CASE("two consumers parked on one word: the first leaving does not hide the second from producers") {
  // The runner doorbell has two consumers while a guest starts (the boot-phase control thread and
  // the vCPU's WAIT). When one leaves its park, a producer must still see the other one sleeping.
  DoorbellWord word{};
  Doorbell producer(&word);
  std::atomic<bool> ready_b{false};
  bool b_ok = false;
  std::thread b([&] {
    Doorbell bell(&word);
    b_ok = static_cast<bool>(bell.wait([&ready_b] { return ready_b.load(std::memory_order_acquire); },
                                       WaitOptions{.spin = std::chrono::nanoseconds(0),
                                                   .deadline = std::chrono::steady_clock::now() + 10s}));
  });
  while (std::atomic_ref(word.sleeping).load(std::memory_order_relaxed) != 1) std::this_thread::sleep_for(1ms);
  {
    Doorbell a(&word);  // parks beside B, then leaves by its deadline
    CHECK(a.wait([] { return false; }, WaitOptions{.spin = std::chrono::nanoseconds(0),
                                                  .deadline = std::chrono::steady_clock::now() + 50ms})
              .error() == IpcError::kTimedOut);
  }
  CHECK(producer.needs_wake());  // B still counts (else: a lost wakeup, B sleeps to its deadline)
  const auto start = std::chrono::steady_clock::now();
  ready_b.store(true, std::memory_order_release);
  producer.ring();
  b.join();
  CHECK(b_ok);
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  CHECK(word.sleeping == 0);
}

TEST_CASE("after repeated spins that end in parking, waits stop spinning until a probe succeeds") {
  DoorbellWord word{};
  Doorbell bell(&word);
  int polls = 0;
  auto never = [&polls] {
    ++polls;
    return false;
  };
  // Deadline already passed: each wait spins (>= 64 polls) or not (a handful), then times out.
  auto expired = [] { return WaitOptions{.spin = std::chrono::milliseconds(1), .deadline = std::chrono::steady_clock::now()}; };
  for (std::uint32_t i = 0; i < AdaptiveSpin::kMissesBeforeBackoff; ++i) {
    polls = 0;
    CHECK(bell.wait(never, expired()).error() == IpcError::kTimedOut);
    CHECK(polls >= 64);
  }
  polls = 0;
  CHECK(bell.wait(never, expired()).error() == IpcError::kTimedOut);
  CHECK(polls < 8);  // backed off: no spin
  int probes = 0;
  for (std::uint32_t i = 0; i < 2 * AdaptiveSpin::kProbeInterval; ++i) {
    polls = 0;
    (void)bell.wait(never, expired());
    if (polls >= 64) ++probes;
  }
  CHECK(probes == 2);  // every kProbeInterval-th wait probes
  CHECK(bell.wait([] { return true; }, WaitOptions{}));  // backed off, but ready at once
  // A probe whose spin succeeds (ready on the 11th poll) ends the back-off.
  for (std::uint32_t i = 0; i < AdaptiveSpin::kProbeInterval; ++i) {
    int n = 0;
    (void)bell.wait([&n] { return ++n > 10; }, expired());
  }
  polls = 0;
  CHECK(bell.wait(never, expired()).error() == IpcError::kTimedOut);
  CHECK(polls >= 64);
}

TEST_CASE("a parked waiter in another process is woken by ring()") {
  ShmObject shm = ShmObject::create(unique_name("bell"), sizeof(PingPong));
  auto* pp = reinterpret_cast<PingPong*>(shm.data());
  const pid_t child = fork_child([pp] {
    Doorbell bell(&pp->to_child);
    const WaitOptions park_now{.spin = 0ns, .deadline = std::chrono::steady_clock::now() + 10s};
    return bell.wait([pp] { return load(pp->ping) != 0; }, park_now) ? 0 : 1;
  });
  // Give the child time to park, then publish and ring.
  while (std::atomic_ref(pp->to_child.sleeping).load(std::memory_order_relaxed) == 0) std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(20ms);
  store(pp->ping, 1);
  Doorbell(&pp->to_child).ring();
  CHECK(wait_child(child) == 0);
  CHECK(pp->to_child.seq == 1);
}

TEST_CASE("always-parking ping-pong across processes loses no wakeup") {
  constexpr std::uint64_t kRounds = 20000;
  ShmObject shm = ShmObject::create(unique_name("bell"), sizeof(PingPong));
  auto* pp = reinterpret_cast<PingPong*>(shm.data());
  auto park = [] { return WaitOptions{.spin = 0ns, .deadline = std::chrono::steady_clock::now() + 5s}; };
  const pid_t child = fork_child([pp, park] {
    Doorbell in(&pp->to_child), out(&pp->to_parent);
    for (std::uint64_t i = 1; i <= kRounds; ++i) {
      if (!in.wait([pp, i] { return load(pp->ping) >= i; }, park())) return 1;  // a lost wakeup hangs here
      store(pp->pong, i);
      out.ring();
    }
    return 0;
  });
  Doorbell out(&pp->to_child), in(&pp->to_parent);
  std::uint64_t timeouts = 0;
  for (std::uint64_t i = 1; i <= kRounds; ++i) {
    store(pp->ping, i);
    out.ring();
    if (!in.wait([pp, i] { return load(pp->pong) >= i; }, park())) {
      ++timeouts;
      break;
    }
  }
  CHECK(timeouts == 0);
  CHECK(wait_child(child) == 0);
  CHECK(load(pp->pong) == kRounds);
  CHECK(pp->to_child.seq + pp->to_parent.seq > 0);  // the futex path was taken
}

namespace {

// Several doorbells and one flag per bell in one shared page, plus a reply doorbell.
struct Bells {
  static constexpr std::size_t kCount = 4;
  DoorbellWord words[kCount];
  DoorbellWord reply;
  alignas(64) std::uint64_t flags[kCount];
  alignas(64) std::uint64_t acked;
};

// Doorbell objects over the words (what a supervisor gets from its channels).
std::vector<Doorbell> doorbells(DoorbellWord* words, std::size_t n) {
  std::vector<Doorbell> bells;
  for (std::size_t i = 0; i < n; ++i) bells.emplace_back(&words[i]);
  return bells;
}
std::vector<Doorbell*> pointers(std::vector<Doorbell>& bells) {
  std::vector<Doorbell*> out;
  for (Doorbell& b : bells) out.push_back(&b);
  return out;
}

}  // namespace

TEST_CASE("wait_any returns at once when ready, with or without bells") {
  std::vector<DoorbellWord> words(3);
  std::vector<Doorbell> bells = doorbells(words.data(), words.size());
  const std::vector<Doorbell*> ptrs = pointers(bells);
  const auto start = std::chrono::steady_clock::now();
  CHECK(wait_any(ptrs, [] { return true; }, std::chrono::steady_clock::now() + 10s));
  CHECK(wait_any({}, [] { return true; }, std::chrono::steady_clock::now() + 10s));
  CHECK(std::chrono::steady_clock::now() - start < 1s);
  for (const DoorbellWord& w : words) CHECK(w.sleeping == 0);
}

TEST_CASE("wait_any times out at its deadline, with or without bells") {
  std::vector<DoorbellWord> words(3);
  std::vector<Doorbell> bells = doorbells(words.data(), words.size());
  const std::vector<Doorbell*> ptrs = pointers(bells);
  auto start = std::chrono::steady_clock::now();
  CHECK(wait_any(ptrs, [] { return false; }, start + 30ms).error() == IpcError::kTimedOut);
  CHECK(std::chrono::steady_clock::now() - start >= 30ms);
  for (const DoorbellWord& w : words) CHECK(w.sleeping == 0);  // each park's count is undone
  start = std::chrono::steady_clock::now();
  CHECK(wait_any({}, [] { return false; }, start + 30ms).error() == IpcError::kTimedOut);
  CHECK(std::chrono::steady_clock::now() - start >= 30ms);
  CHECK(wait_any({}, [] { return false; }, start).error() == IpcError::kTimedOut);  // already passed
}

TEST_CASE("wait_any with an AdaptiveSpin: a hit during the spin never parks; misses back off, probes come back") {
  std::vector<DoorbellWord> words(2);
  std::vector<Doorbell> bells = doorbells(words.data(), words.size());
  const std::vector<Doorbell*> ptrs = pointers(bells);
  AdaptiveSpin spin(spin_units(2s));  // long: a loaded machine may run the setter late
  std::atomic<bool> flag{false};
  std::atomic<std::uint32_t> seen_sleeping{0};
  std::thread setter([&] {
    std::this_thread::sleep_for(20ms);
    // Still spinning, not parked: nobody counted as sleeping, so a producer would skip FUTEX_WAKE.
    seen_sleeping.store(std::atomic_ref(words[0].sleeping).load(std::memory_order_relaxed), std::memory_order_relaxed);
    flag.store(true, std::memory_order_release);
  });
  CHECK(wait_any(ptrs, [&flag] { return flag.load(std::memory_order_acquire); }, std::chrono::steady_clock::now() + 10s, &spin));
  setter.join();
  CHECK(seen_sleeping.load() == 0);
  CHECK(spin.next() > 0);  // the spin paid off: still spinning (tuned to the arrival)

  AdaptiveSpin idle(spin_units(1ms));
  for (std::uint32_t i = 0; i < AdaptiveSpin::kMissesBeforeBackoff; ++i) {
    const auto start = std::chrono::steady_clock::now();
    CHECK(wait_any(ptrs, [] { return false; }, start + 5ms, &idle).error() == IpcError::kTimedOut);
  }
  int full = 0;
  for (std::uint32_t i = 0; i < 2 * AdaptiveSpin::kProbeInterval; ++i) full += idle.next() == spin_units(1ms) ? 1 : 0;
  CHECK(full == 2);  // backed off: only the probes spin
  idle.hit(spin_units(100us));
  CHECK(idle.next() > 0);  // a probe that hits ends the back-off
}

TEST_CASE("wait_any is woken by a ring() on any one of several words from another process") {
  ShmObject shm = ShmObject::create(unique_name("bells"), sizeof(Bells));
  auto* b = reinterpret_cast<Bells*>(shm.data());
  const pid_t child = fork_child([b] {
    for (std::size_t k = 0; k < Bells::kCount; ++k) {
      // Wait until the parent is parked on every word, then ring only word k.
      for (std::size_t i = 0; i < Bells::kCount; ++i) {
        while (std::atomic_ref(b->words[i].sleeping).load(std::memory_order_relaxed) == 0) std::this_thread::sleep_for(1ms);
      }
      std::this_thread::sleep_for(10ms);
      store(b->flags[k], 1);
      Doorbell(&b->words[k]).ring();
      Doorbell reply(&b->reply);
      if (!reply.wait([b, k] { return load(b->acked) > k; }, WaitOptions::within(10s))) return 1;
    }
    return 0;
  });
  std::vector<Doorbell> bells = doorbells(b->words, Bells::kCount);
  const std::vector<Doorbell*> ptrs = pointers(bells);
  for (std::size_t k = 0; k < Bells::kCount; ++k) {
    CAPTURE(k);
    const auto start = std::chrono::steady_clock::now();
    CHECK(wait_any(ptrs, [b, k] { return load(b->flags[k]) != 0; }, start + 10s));
    CHECK(std::chrono::steady_clock::now() - start < 5s);
    CHECK(b->words[k].seq == 1);  // woken through the futex, by word k alone
    store(b->acked, k + 1);
    Doorbell(&b->reply).ring();
  }
  CHECK(wait_child(child) == 0);
  for (const DoorbellWord& w : b->words) CHECK(w.sleeping == 0);
}

TEST_CASE("wait_any loses no wakeup: always-parking rounds across processes on rotating words") {
  constexpr std::uint64_t kRounds = 20000;
  ShmObject shm = ShmObject::create(unique_name("bells"), sizeof(Bells));
  auto* b = reinterpret_cast<Bells*>(shm.data());
  auto park = [] { return WaitOptions{.spin = 0ns, .deadline = std::chrono::steady_clock::now() + 5s}; };
  const pid_t child = fork_child([b, park] {
    Doorbell reply(&b->reply);
    for (std::uint64_t i = 1; i <= kRounds; ++i) {
      const std::size_t k = i % Bells::kCount;
      store(b->flags[k], i);
      Doorbell(&b->words[k]).ring();
      if (!reply.wait([b, i] { return load(b->acked) >= i; }, park())) return 1;  // a lost wakeup hangs here
    }
    return 0;
  });
  std::vector<Doorbell> bells = doorbells(b->words, Bells::kCount);
  const std::vector<Doorbell*> ptrs = pointers(bells);
  Doorbell reply(&b->reply);
  std::uint64_t timeouts = 0;
  for (std::uint64_t i = 1; i <= kRounds; ++i) {
    auto ready = [b, i] { return load(b->flags[i % Bells::kCount]) >= i; };
    if (!wait_any(ptrs, ready, std::chrono::steady_clock::now() + 5s)) {
      ++timeouts;
      break;
    }
    store(b->acked, i);
    reply.ring();
  }
  CHECK(timeouts == 0);
  CHECK(wait_child(child) == 0);
  std::uint64_t woken = 0;
  for (const DoorbellWord& w : b->words) woken += w.seq;
  CHECK(woken > 0);  // the futex path was taken
}

TEST_CASE("wait_any over more bells than futex_waitv takes still notices the ones past the limit") {
  std::vector<DoorbellWord> words(kMaxWaitAny + 2);
  std::vector<Doorbell> bells = doorbells(words.data(), words.size());
  const std::vector<Doorbell*> ptrs = pointers(bells);
  std::atomic<bool> flag{false};
  std::thread producer([&] {
    while (std::atomic_ref(words[0].sleeping).load(std::memory_order_relaxed) == 0) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(20ms);
    flag.store(true, std::memory_order_release);
    Doorbell(&words.back()).ring();  // nobody parks on this word: no wake, seq stays 0
  });
  const auto start = std::chrono::steady_clock::now();
  CHECK(wait_any(ptrs, [&flag] { return flag.load(std::memory_order_acquire); }, start + 10s));
  CHECK(std::chrono::steady_clock::now() - start < 2s);  // polled every kWaitAnyOverflowPoll
  producer.join();
  CHECK(words.back().seq == 0);
  CHECK(words.back().sleeping == 0);
  for (const DoorbellWord& w : words) CHECK(w.sleeping == 0);
}
