// Doorbell: a parked waiter is woken across processes; no lost wakeups when both sides always
// park; producers skip FUTEX_WAKE when nobody sleeps.
#include "ipc/doorbell.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

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
  for (std::uint32_t i = 0; i < Doorbell::kMissesBeforeBackoff; ++i) {
    polls = 0;
    CHECK(bell.wait(never, expired()).error() == IpcError::kTimedOut);
    CHECK(polls >= 64);
  }
  polls = 0;
  CHECK(bell.wait(never, expired()).error() == IpcError::kTimedOut);
  CHECK(polls < 8);  // backed off: no spin
  int probes = 0;
  for (std::uint32_t i = 0; i < 2 * Doorbell::kProbeInterval; ++i) {
    polls = 0;
    (void)bell.wait(never, expired());
    if (polls >= 64) ++probes;
  }
  CHECK(probes == 2);  // every kProbeInterval-th wait probes
  CHECK(bell.wait([] { return true; }, WaitOptions{}));  // backed off, but ready at once
  // A probe whose spin succeeds (ready on the 11th poll) ends the back-off.
  for (std::uint32_t i = 0; i < Doorbell::kProbeInterval; ++i) {
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
