// WindowPorts as a device, in process (no VM): what a guest writing its doorbells costs the host's
// log (a guest may write SNAPSHOT_POINT or odd widths as often as it likes; the lines it causes are
// rate-limited per call site, common/log_limit.h), and which doorbell work each port does: a WAIT
// wakes a sleeping supervisor first, a RESPONSE_READY with nobody asleep issues no FUTEX_WAKE, and
// both count themselves in the channel's WindowTrace; kDumpWorkingSet goes to its taker; KVM's
// counts since a load are published once, at the first wake after the guest pushed a response
// (taken by the supervisor already or not).
#include "runner/window/window_ports.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/log_limit.h"
#include "ipc/channel.h"
#include "ipc/guest_abi.h"
#include "ipc/ipc_error.h"
#include "ipc/runner_times.h"
#include "ipc/window_trace.h"
#include "tests/common/log_capture.h"

namespace {

using namespace snapfaas;

void out32(runner::window::WindowPorts& ports, std::uint16_t port, std::uint32_t value) {
  std::array<std::uint8_t, 4> b{};
  std::memcpy(b.data(), &value, 4);
  ports.write(port - ipc::kPortFirst, b);
}

std::uint32_t in32(runner::window::WindowPorts& ports, std::uint16_t port) {
  std::array<std::uint8_t, 4> b{};
  ports.read(port - ipc::kPortFirst, b);
  std::uint32_t value = 0;
  std::memcpy(&value, b.data(), 4);
  return value;
}

/// The load-counter cases' set-up: a channel's supervisor, runner and guest ends (the guest end
/// stands in for the guest's side of the rings), and WindowPorts whose KVM counts come from `counters`.
struct CountsRig {
  CountsRig(const std::string& tag, std::function<std::optional<runner::VcpuCounters>()> counters)
      : supervisor(ipc::SupervisorChannel::create("/snapfaas-ports-" + tag + "-test-" + std::to_string(::getpid()),
                                                  {.slot_size = 4096, .slot_count = 2})),
        channel(ipc::RunnerChannel::open(supervisor.shm().name())),
        guest(ipc::RunnerChannel::open(supervisor.shm().name())),
        ports(channel, hooks(std::move(counters)), std::chrono::steady_clock::now()) {}

  /// The supervisor sends request `id` and the guest pushes its response (left in the ring).
  void answer_one(std::uint64_t id) {
    const std::array<std::uint8_t, 8> payload{1, 2, 3, 4, 5, 6, 7, 8};
    REQUIRE(supervisor.send_copy(id, payload));
    const auto request = guest.try_receive();
    REQUIRE(request);
    REQUIRE(guest.respond(request->request_id, request->slot, 8));
  }

  ipc::SupervisorChannel supervisor;
  ipc::RunnerChannel channel;
  ipc::RunnerChannel guest;
  runner::window::WindowPorts ports;

 private:
  static runner::window::WindowHooks hooks(std::function<std::optional<runner::VcpuCounters>()> counters) {
    runner::window::WindowHooks h;
    h.stop = [](int, const std::string&) {};
    h.counters = std::move(counters);
    return h;
  }
};

}  // namespace

TEST_CASE("a guest writing SNAPSHOT_POINT or odd port widths 10^4 times costs a burst of log lines") {
  const std::string name = "/snapfaas-ports-test-" + std::to_string(::getpid());
  auto supervisor = ipc::SupervisorChannel::create(name, {.slot_size = 4096, .slot_count = 2});
  auto channel = ipc::RunnerChannel::open(name);
  int points = 0;
  runner::window::WindowHooks hooks;
  hooks.stop = [](int, const std::string&) {};
  hooks.on_snapshot_point = [&points](std::uint32_t) { ++points; };
  runner::window::WindowPorts ports(channel, std::move(hooks), std::chrono::steady_clock::now());
  test::LogCapture capture;
  for (int i = 0; i < 10'000; ++i) {
    out32(ports, ipc::kPortSnapshotPoint, 1 + static_cast<std::uint32_t>(i % 3));
    const std::array<std::uint8_t, 2> odd{};
    ports.write(ipc::kPortResponseReady - ipc::kPortFirst, odd);
  }
  CHECK(points == 10'000);  // every point reaches the snapshot hook; only the log is limited
  INFO(capture.text().substr(0, 2000));
  constexpr std::size_t kMost = common::LogLimit::kBurst + 2;
  CHECK(capture.lines_with("snapshot point") >= 1);
  CHECK(capture.lines_with("snapshot point") <= kMost);
  CHECK(capture.lines_with("ignored guest write") <= kMost);
}

TEST_CASE("a WAIT wakes a sleeping supervisor first; RESPONSE_READY wakes only a sleeper; both are traced") {
  using namespace std::chrono_literals;
  const std::string name = "/snapfaas-ports-wake-test-" + std::to_string(::getpid());
  auto supervisor = ipc::SupervisorChannel::create(name, {.slot_size = 4096, .slot_count = 2});
  auto channel = ipc::RunnerChannel::open(name);
  runner::window::WindowHooks hooks;
  hooks.stop = [](int, const std::string&) {};
  runner::window::WindowPorts ports(channel, std::move(hooks), std::chrono::steady_clock::now());
  ipc::DoorbellWord* word = supervisor.supervisor_doorbell().word();
  auto seq = [word] { return std::atomic_ref(word->seq).load(std::memory_order_acquire); };  // pairs with wake()'s fetch_add
  const ipc::WindowTrace t0 = ipc::read_window_trace(supervisor.shm().data());

  // Nobody asleep: RESPONSE_READY leaves seq alone (no FUTEX_WAKE), and is counted.
  const std::uint32_t seq0 = seq();
  out32(ports, ipc::kPortResponseReady, 0);
  CHECK(seq() == seq0);
  const ipc::WindowTrace t1 = ipc::read_window_trace(supervisor.shm().data());
  CHECK(t1.response_rings == t0.response_rings + 1);
  CHECK(t1.supervisor_wakes == t0.supervisor_wakes);
  CHECK(t1.doorbell_exit_tsc > t0.doorbell_exit_tsc);

  // A supervisor parked with a long deadline; the "guest" pushed its response quietly (the flag)
  // and issues a WAIT, which answers at once (a request is queued) and must wake the supervisor.
  std::atomic<bool> response{false};
  std::atomic<bool> woken{false};
  std::thread sup([&] {
    ipc::Doorbell bell(word);
    ipc::WaitOptions options{.spin = std::chrono::nanoseconds(0),
                             .deadline = std::chrono::steady_clock::now() + 60s};
    (void)bell.wait([&] { return response.load(std::memory_order_acquire); }, options);  // pairs with the store below
    woken.store(true, std::memory_order_release);  // pairs with the acquire load below
  });
  const auto give_up = std::chrono::steady_clock::now() + 30s;
  while (std::atomic_ref(word->sleeping).load(std::memory_order_relaxed) == 0 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(1ms);
  }
  REQUIRE(std::atomic_ref(word->sleeping).load(std::memory_order_relaxed) == 1);
  response.store(true, std::memory_order_release);  // pairs with the waiter's acquire load
  const std::array<std::uint8_t, 8> payload{1, 2, 3, 4, 5, 6, 7, 8};
  REQUIRE(supervisor.send_copy(1, payload));
  const auto start = std::chrono::steady_clock::now();
  CHECK(in32(ports, ipc::kPortWait) == ipc::kWaitReady);
  sup.join();
  CHECK(woken.load(std::memory_order_acquire));
  CHECK(std::chrono::steady_clock::now() - start < 30s);  // woken by the WAIT, not by its 60 s deadline
  const ipc::WindowTrace t2 = ipc::read_window_trace(supervisor.shm().data());
  CHECK(t2.waits == t1.waits + 1);
  CHECK(t2.supervisor_wakes == t1.supervisor_wakes + 1);
  CHECK(t2.wait_ready_tsc != 0);
  // The WAIT's exit is stamped on arrival, before it woke the supervisor and answered ready.
  CHECK(t2.doorbell_exit_tsc > t1.doorbell_exit_tsc);
  CHECK(t2.doorbell_exit_tsc <= t2.wake_done_tsc);
  CHECK(t2.doorbell_exit_tsc <= t2.wait_ready_tsc);
}

TEST_CASE("kDumpWorkingSet: kUnsupported until a taker is set, then handed over and answered by it") {
  const std::string name = "/snapfaas-ports-ws-test-" + std::to_string(::getpid());
  auto supervisor = ipc::SupervisorChannel::create(name, {.slot_size = 4096, .slot_count = 2});
  auto channel = ipc::RunnerChannel::open(name);
  runner::window::WindowHooks hooks;
  hooks.stop = [](int, const std::string&) {};
  runner::window::WindowPorts ports(channel, std::move(hooks), std::chrono::steady_clock::now());
  const auto op = static_cast<std::uint32_t>(ipc::ControlOp::kDumpWorkingSet);
  auto reply = [&] { return supervisor.control_reply(ipc::WaitOptions::within(std::chrono::seconds(5))); };

  REQUIRE(supervisor.send_control({1, op, 0, 0, 0}));
  ports.drain_control();
  ipc::Result<ipc::ControlReply> r = reply();
  REQUIRE(r);
  CHECK(r->command_id == 1);
  CHECK(r->status == static_cast<std::int32_t>(ipc::ControlResult::kUnsupported));

  std::vector<ipc::ControlCommand> taken;
  ports.set_dump_working_set_hook([&taken](const ipc::ControlCommand& c) { taken.push_back(c); });
  REQUIRE(supervisor.send_control({2, op, 0, 0, 0}));
  ports.drain_control();
  REQUIRE(taken.size() == 1);
  CHECK(taken[0].command_id == 2);
  CHECK_FALSE(supervisor.control_reply(ipc::WaitOptions::within(std::chrono::milliseconds(50))));  // not yet
  ports.reply_control(taken[0], 0, 321);
  r = reply();
  REQUIRE(r);
  CHECK(r->command_id == 2);
  CHECK(r->status == 0);
  CHECK(r->value == 321);
  CHECK(std::string(ipc::control_result_text(static_cast<std::int32_t>(ipc::ControlResult::kDumpFailed))) ==
        "working set not recorded");
}

TEST_CASE("load counters: published once, at the first wake with a response pushed, counted from the load") {
  runner::VcpuCounters kvm{.page_faults = 100, .exits = 150};  // what KVM counted so far
  CountsRig rig("counts", [&kvm] { return std::optional<runner::VcpuCounters>(kvm); });
  std::uint8_t* header = rig.supervisor.shm().data();

  ipc::reset_runner_times(rig.channel.shm().data());
  rig.ports.arm_load_counters();
  kvm = {.page_faults = 130, .exits = 190};
  out32(rig.ports, ipc::kPortResponseReady, 0);  // no response pushed yet (a WAIT before the request)
  CHECK_FALSE(ipc::runner_load_counters(header).has_value());

  rig.answer_one(7);
  kvm = {.page_faults = 1300, .exits = 1400};
  out32(rig.ports, ipc::kPortResponseReady, 0);
  std::optional<ipc::LoadCounters> c = ipc::runner_load_counters(header);
  REQUIRE(c.has_value());
  CHECK(c->page_faults == 1200);
  CHECK(c->exits == 1250);
  kvm = {.page_faults = 5000, .exits = 5000};
  out32(rig.ports, ipc::kPortResponseReady, 0);  // once per load
  CHECK(ipc::runner_load_counters(header)->page_faults == 1200);

  // The next load: nothing until its own first response; counters that went backwards are not
  // published (no wrapped difference).
  ipc::reset_runner_times(rig.channel.shm().data());
  rig.ports.arm_load_counters();
  CHECK_FALSE(ipc::runner_load_counters(header).has_value());
  kvm = {.page_faults = 10, .exits = 10};
  out32(rig.ports, ipc::kPortResponseReady, 0);  // the response above is still in the ring
  CHECK_FALSE(ipc::runner_load_counters(header).has_value());
}

TEST_CASE("load counters: published even when the supervisor took the response before the guest's exit") {
  runner::VcpuCounters kvm{.page_faults = 5, .exits = 6};
  CountsRig rig("taken", [&kvm] { return std::optional<runner::VcpuCounters>(kvm); });
  rig.ports.arm_load_counters();
  rig.answer_one(1);
  const auto taken = rig.supervisor.try_receive();  // a spinning supervisor: the ring is empty again
  REQUIRE(taken);
  REQUIRE(rig.supervisor.release(taken->slot));
  kvm = {.page_faults = 805, .exits = 906};
  out32(rig.ports, ipc::kPortResponseReady, 0);  // the guest's exit after its push
  const std::optional<ipc::LoadCounters> c = ipc::runner_load_counters(rig.supervisor.shm().data());
  REQUIRE(c.has_value());
  CHECK(c->page_faults == 800);
  CHECK(c->exits == 900);
}

TEST_CASE("load counters: a runner without KVM statistics never publishes any") {
  CountsRig rig("nocounts", [] { return std::optional<runner::VcpuCounters>(); });
  rig.ports.arm_load_counters();
  rig.answer_one(1);
  out32(rig.ports, ipc::kPortResponseReady, 0);
  CHECK_FALSE(ipc::runner_load_counters(rig.supervisor.shm().data()).has_value());
}
