// Integration: the vCPU states through the Vmm API — pause (kick out of KVM_RUN), resume, stop.
#include "runner/vmm.h"

#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>
#include <thread>

using namespace snapfaas::runner;
using namespace std::chrono_literals;

namespace {
constexpr std::uint64_t kCounterGpa = 0x200000;  // tests/guests/spin_guest.c

// A 16 MiB ring-3 VM of tests/guests/NAME with `vcpus` vCPUs.
VmmConfig guest_config(const std::string& name, std::uint32_t vcpus = 1) {
  VmmConfig cfg;
  cfg.kernel = std::string(SNAPFAAS_GUEST_DIR) + "/" + name;
  cfg.mem_mib = 16;
  cfg.vcpu_count = vcpus;
  return cfg;
}

std::uint64_t counter(const Vmm& vmm) { return vmm.memory().read_obj<std::uint64_t>(kCounterGpa).value_or(0); }

std::size_t thread_count() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

bool wait_until(const std::function<bool()>& pred) {
  for (int i = 0; i < 500; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}
}  // namespace

TEST_CASE("a spinning ring-3 guest can be paused, resumed and stopped") {
  for (std::uint32_t vcpus : {1u, 2u}) {
    CAPTURE(vcpus);
    Vmm vmm(guest_config("guest_spin", vcpus));
    REQUIRE(vmm.ring3());
    auto done = std::async(std::launch::async, [&] { return vmm.run(); });
    REQUIRE(wait_until([&] { return counter(vmm) > 1000; }));

    for (std::size_t i = 0; i < vmm.vcpu_count(); ++i) vmm.vcpu(i).pause();
    for (std::size_t i = 0; i < vmm.vcpu_count(); ++i) CHECK(vmm.vcpu(i).state() == VcpuState::kPaused);
    const std::uint64_t paused_at = counter(vmm);
    std::this_thread::sleep_for(50ms);
    CHECK(counter(vmm) == paused_at);
    // While paused, vCPU state is readable from this thread (the snapshot seam).
    CHECK(vmm.vcpu(0).kvm().regs().rip >= 0x100000);

    for (std::size_t i = 0; i < vmm.vcpu_count(); ++i) vmm.vcpu(i).resume();
    CHECK(wait_until([&] { return counter(vmm) > paused_at + 1000; }));

    vmm.request_stop(7);
    REQUIRE(done.wait_for(5s) == std::future_status::ready);
    CHECK(done.get() == 7);
    for (std::size_t i = 0; i < vmm.vcpu_count(); ++i) CHECK(vmm.vcpu(i).state() == VcpuState::kStopped);
  }
}

// A pause asked from another thread while run() is still starting the vCPUs: the new vCPU thread
// may already be in KVM_RUN before run()'s thread has stored its handle. The kick must reach it
// all the same (CI hung once: the snapshot saver paused vCPU 1 of a 2-vCPU guest in that window
// and waited for ever). Each round asks as soon as the last vCPU thread exists.
TEST_CASE("a pause asked while run() is still starting the vCPUs reaches every vCPU") {
  constexpr int kRounds = 500;
  int missed = 0;
  for (int round = 0; round < kRounds; ++round) {
    Vmm vmm(guest_config("guest_spin", 2));
    const std::size_t before = thread_count();
    auto done = std::async(std::launch::async, [&] { return vmm.run(); });
    // run()'s own thread, then vCPU 0's, then vCPU 1's. Bounded: a thread of the last round may
    // still be listed in `before` while it exits, and then the count never gets there.
    const auto give_up = std::chrono::steady_clock::now() + 200ms;
    while (thread_count() < before + 3 && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
    for (std::size_t i = 0; i < vmm.vcpu_count(); ++i) {
      if (!vmm.vcpu(i).pause_for(2s)) ++missed;
    }
    vmm.request_stop(0);
    if (done.wait_for(5s) != std::future_status::ready) FAIL("run() did not return after request_stop");
    CHECK(done.get() == 0);
  }
  CHECK(missed == 0);
}

TEST_CASE("an error stop makes run() throw the message") {
  Vmm vmm(guest_config("guest_spin"));
  auto done = std::async(std::launch::async, [&] { return vmm.run(); });
  std::this_thread::sleep_for(20ms);
  vmm.request_stop(1, "deadline exceeded");
  CHECK_THROWS_WITH(done.get(), "deadline exceeded");
}

TEST_CASE("vCPUs started parked run their set-up on their own thread, stay out of the guest until run()") {
  Vmm vmm(guest_config("guest_spin", 2));
  std::mutex mutex;
  std::vector<std::thread::id> init_threads;
  vmm.start_vcpus_parked([&] {
    std::lock_guard lock(mutex);
    init_threads.push_back(std::this_thread::get_id());
  });
  REQUIRE(wait_until([&] {
    std::lock_guard lock(mutex);
    return init_threads.size() == 2;
  }));
  CHECK(init_threads[0] != init_threads[1]);
  CHECK(init_threads[0] != std::this_thread::get_id());
  std::this_thread::sleep_for(50ms);
  CHECK(counter(vmm) == 0);  // parked: the guest has not run
  for (std::size_t i = 0; i < vmm.vcpu_count(); ++i) CHECK(vmm.vcpu(i).started());
  auto done = std::async(std::launch::async, [&] { return vmm.run(); });
  CHECK(wait_until([&] { return counter(vmm) > 1000; }));
  vmm.request_stop(3);
  REQUIRE(done.wait_for(5s) == std::future_status::ready);
  CHECK(done.get() == 3);
}

TEST_CASE("a parked vCPU whose set-up throws stops the VM with that error") {
  Vmm vmm(guest_config("guest_spin"));
  vmm.start_vcpus_parked([] { throw std::runtime_error("no filter for you"); });
  REQUIRE(wait_until([&] { return vmm.vcpu(0).state() == VcpuState::kStopped; }));
  auto done = std::async(std::launch::async, [&] { return vmm.run(); });
  REQUIRE(done.wait_for(5s) == std::future_status::ready);
  CHECK_THROWS_WITH(done.get(), doctest::Contains("no filter for you"));
}

TEST_CASE("a parked vCPU released before it first parked reports running, and pause() still stops it") {
  Vmm vmm(guest_config("guest_spin"));
  vmm.start_vcpus_parked([] { std::this_thread::sleep_for(100ms); });  // still in its set-up...
  auto done = std::async(std::launch::async, [&] { return vmm.run(); });  // ...when run() releases it
  REQUIRE(wait_until([&] { return counter(vmm) > 1000; }));
  CHECK(vmm.vcpu(0).state() == VcpuState::kRunning);
  vmm.vcpu(0).pause();
  const std::uint64_t paused_at = counter(vmm);
  std::this_thread::sleep_for(50ms);
  CHECK(counter(vmm) == paused_at);
  vmm.vcpu(0).resume();
  vmm.request_stop(0);
  REQUIRE(done.wait_for(5s) == std::future_status::ready);
  CHECK(done.get() == 0);
}

// KVM's own counts of what a guest cost it (Vmm::vcpu_counters, the cold-request figures of
// ipc/runner_times.h): a guest that touches every page of its RAM makes KVM take page faults for
// them, and its port I/O makes exits.
TEST_CASE("vcpu counters: a guest touching its RAM shows the page faults and exits KVM took for it") {
  for (std::uint32_t vcpus : {1u, 2u}) {
    CAPTURE(vcpus);
    Vmm vmm(guest_config("guest_memtouch", vcpus));
    const std::optional<VcpuCounters> before = vmm.vcpu_counters();
    REQUIRE_MESSAGE(before.has_value(), "this kernel gives no vCPU statistics file (KVM_GET_STATS_FD, Linux 5.14+)");
    CHECK(before->exits < 16);  // nothing has run yet
    CHECK(vmm.run() == 0);
    const std::optional<VcpuCounters> after = vmm.vcpu_counters();
    REQUIRE(after.has_value());
    MESSAGE("page faults " << after->page_faults - before->page_faults << ", exits " << after->exits - before->exits);
    // 16 MiB is 4096 pages, nearly all touched (the image is a few pages): at least one fault per
    // 8 pages even where KVM maps neighbours of a faulting page ahead (its prefetch is 8 wide).
    CHECK(after->page_faults - before->page_faults >= 4096 / 8);
    CHECK(after->exits - before->exits >= 2);  // the report and the exit port writes at least
    // Each fault KVM took was an exit of its own.
    CHECK(after->exits - before->exits >= after->page_faults - before->page_faults);
  }
}
