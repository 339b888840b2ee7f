// Integration: firerunner --channel with ring-3 window guests, driven by a SupervisorChannel in the
// test process (firerunner is a child process). Needs /dev/kvm.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "ipc/channel.h"
#include "ipc/guest_abi.h"
#include "tests/runner/window/child.h"

namespace {

using namespace snapfaas;
using namespace std::chrono_literals;

std::string guest(const char* name) { return std::string(SNAPFAAS_GUEST_DIR) + "/" + name; }

std::string unique_name(const char* tag) {
  static int counter = 0;
  return "/snapfaas-wtest-" + std::to_string(::getpid()) + "-" + tag + "-" + std::to_string(counter++);
}

std::vector<std::string> firerunner_args(const std::string& kernel, const std::string& channel) {
  return {SNAPFAAS_FIRERUNNER, "--kernel", kernel, "--mem_size", "16", "--channel", channel};
}

/// Sends a control command and waits for its reply (fails the test on timeout).
ipc::ControlReply control(ipc::SupervisorChannel& ch, const ipc::ControlCommand& cmd, test::Child& child) {
  REQUIRE(ch.send_control(cmd));
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < until) {
    ipc::Result<ipc::ControlReply> r = ch.control_reply(ipc::WaitOptions::within(50ms));
    if (r) {
      REQUIRE(r->command_id == cmd.command_id);
      return *r;
    }
    REQUIRE_MESSAGE(child.running(), "firerunner exited: " << child.err());
  }
  FAIL("no control reply for command " << cmd.command_id << "; stderr: " << child.err());
  return {};
}

ipc::ControlCommand ping(std::uint64_t id, std::uint32_t arg0 = 0) {
  return {id, static_cast<std::uint32_t>(ipc::ControlOp::kPing), arg0, 0, 0};
}
ipc::ControlCommand shutdown_cmd(std::uint64_t id) {
  return {id, static_cast<std::uint32_t>(ipc::ControlOp::kShutdown), 0, 0, 0};
}

std::uint64_t fnv1a(const std::uint8_t* p, std::size_t n) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

ipc::Result<ipc::Response> receive(ipc::SupervisorChannel& ch, test::Child& child) {
  const auto until = std::chrono::steady_clock::now() + 20s;
  for (;;) {
    ipc::Result<ipc::Response> r = ch.receive(ipc::WaitOptions::within(100ms));
    if (r || r.error() != ipc::IpcError::kTimedOut || std::chrono::steady_clock::now() >= until) return r;
    if (!child.running()) return r;
  }
}

}  // namespace

TEST_CASE("ring-3 checksum guest serves 10^5 requests through the window, then shuts down") {
  const std::string name = unique_name("echo");
  auto ch = ipc::SupervisorChannel::create(name, {.slot_size = 64 * 1024, .slot_count = 64});
  test::Child child(firerunner_args(guest("guest_window_checksum"), name));

  const ipc::ControlReply created = control(ch, ping(1), child);
  CHECK(created.status == 0);
  const ipc::ControlReply ready = control(ch, ping(2, ipc::kPingGuestReady), child);
  CHECK(ready.status == 0);
  CHECK(ready.value > 0);

  constexpr std::uint64_t kRequests = 100'000;
  constexpr std::uint32_t kInFlight = 8;
  std::mt19937_64 rng(42);
  std::vector<std::vector<std::uint8_t>> sent(ch.layout().slot_count);
  std::uint64_t next_id = 1, answered = 0, bad = 0;
  auto send_one = [&] {
    std::vector<std::uint8_t> payload(rng() % 2048);
    for (auto& b : payload) b = static_cast<std::uint8_t>(rng());
    ipc::Result<std::uint32_t> slot = ch.send_copy(next_id++, payload);
    REQUIRE(slot);
    sent[*slot] = std::move(payload);
  };
  for (std::uint32_t i = 0; i < kInFlight; ++i) send_one();
  while (answered < kRequests) {
    ipc::Result<ipc::Response> r = receive(ch, child);
    REQUIRE_MESSAGE(r, "receive: " << ipc::to_string(r.error()) << "; stderr: " << child.err());
    const std::vector<std::uint8_t>& p = sent[r->slot];
    std::uint64_t sum = 0;
    if (r->payload.size() >= 8) std::memcpy(&sum, r->payload.data(), 8);
    if (r->status != 0 || r->payload.size() != p.size() + 8 || sum != fnv1a(p.data(), p.size()) ||
        !std::equal(p.begin(), p.end(), r->payload.begin() + 8)) {
      ++bad;
    }
    REQUIRE(ch.release(r->slot));
    ++answered;
    if (next_id <= kRequests) send_one();
  }
  CHECK(bad == 0);
  CHECK(ch.free_slots() == ch.layout().slot_count);

  (void)control(ch, shutdown_cmd(3), child);
  const std::optional<int> status = child.wait_for(20s);
  REQUIRE(status.has_value());
  CHECK_MESSAGE(*status == 0, child.err());
}

TEST_CASE("a guest parked in WAIT: ping answers, kShutdown ends it with 0, SIGTERM ends firerunner") {
  const std::string name = unique_name("park");
  auto ch = ipc::SupervisorChannel::create(name);
  SUBCASE("kShutdown") {
    test::Child child(firerunner_args(guest("guest_window_checksum_park"), name));
    (void)control(ch, ping(1, ipc::kPingGuestReady), child);
    std::this_thread::sleep_for(200ms);  // parked on the runner doorbell by now
    CHECK(control(ch, ping(2), child).status == 0);
    CHECK(control(ch, {3, static_cast<std::uint32_t>(ipc::ControlOp::kBoot), 0, 0, 0}, child).status != 0);
    (void)control(ch, shutdown_cmd(4), child);
    const std::optional<int> status = child.wait_for(10s);
    REQUIRE(status.has_value());
    CHECK_MESSAGE(*status == 0, child.err());
  }
  SUBCASE("--timeout while parked in WAIT") {  // the deadline must not wait for the parked vCPU
    std::vector<std::string> args = firerunner_args(guest("guest_window_checksum_park"), name);
    args.insert(args.end(), {"--timeout", "1"});
    test::Child child(args);
    (void)control(ch, ping(1, ipc::kPingGuestReady), child);
    const std::optional<int> status = child.wait_for(10s);
    REQUIRE_MESSAGE(status.has_value(), "firerunner --timeout 1 still running after 10 s");
    CHECK(*status == 1);
    CHECK_MESSAGE(child.err().find("timeout after 1") != std::string::npos, child.err());
    CHECK_MESSAGE(child.err().find("inside a device exit") != std::string::npos, child.err());
  }
  SUBCASE("SIGTERM") {
    test::Child child(firerunner_args(guest("guest_window_checksum_park"), name));
    (void)control(ch, ping(1, ipc::kPingGuestReady), child);
    std::this_thread::sleep_for(200ms);
    child.signal(SIGTERM);
    const std::optional<int> status = child.wait_for(10s);
    REQUIRE(status.has_value());
    CHECK(*status == 128 + SIGTERM);
  }
}

TEST_CASE("hostile ring-3 guest: garbage in its window stops only that VM, no side reads out of bounds") {
  struct Variant {
    const char* guest;
    const char* runner_error;
  };
  const Variant variants[] = {
      {"guest_window_hostile1", "moved a ring index backwards"},  // request ring head beyond tail
      {"guest_window_hostile2", "more than capacity ahead"},      // request ring tail forged far ahead
      {"guest_window_hostile3", "more than capacity ahead"},      // head far behind the tail
  };
  for (const Variant& v : variants) {
    CAPTURE(v.guest);
    const std::string name = unique_name("hostile");
    auto ch = ipc::SupervisorChannel::create(name);
    test::Child child(firerunner_args(guest(v.guest), name));
    const std::string hello = "hello";
    REQUIRE(ch.send_copy(7, std::span(reinterpret_cast<const std::uint8_t*>(hello.data()), hello.size())));

    // The garbage responses, each rejected with its own error; then the tail far ahead.
    std::vector<ipc::IpcError> errors;
    for (int i = 0; i < 4; ++i) {
      ipc::Result<ipc::Response> r = receive(ch, child);
      REQUIRE_MESSAGE(!r, "a garbage response was accepted");
      if (r.error() == ipc::IpcError::kTimedOut) break;
      errors.push_back(r.error());
    }
    REQUIRE(errors.size() == 4);
    CHECK(errors[0] == ipc::IpcError::kRequestIdMismatch);
    CHECK(errors[1] == ipc::IpcError::kSlotOutOfRange);
    CHECK(errors[2] == ipc::IpcError::kLengthOutOfRange);
    CHECK(errors[3] == ipc::IpcError::kIndexAhead);

    const std::optional<int> status = child.wait_for(20s);
    REQUIRE(status.has_value());
    CHECK(*status == 1);
    const std::string out = child.out(), err = child.err();
    CHECK_MESSAGE(out.find("result 1\n") != std::string::npos, "header page write stuck: " << out);
    CHECK_MESSAGE(out.find("result 2\n") != std::string::npos, "odd port accesses: " << out);
    CHECK_MESSAGE(err.find("ring window") != std::string::npos, err);
    CHECK_MESSAGE(err.find(v.runner_error) != std::string::npos, err);
    CHECK(err.find("AddressSanitizer") == std::string::npos);
    CHECK(err.find("runtime error") == std::string::npos);
  }
}

TEST_CASE("fc_wrapper with the real firerunner and the ring-3 echo guest answers 150 lines in order") {
  const std::string input = "/tmp/snapfaas-window-wrapper-" + std::to_string(::getpid()) + ".jsonl";
  std::vector<std::string> expected;
  {
    std::ofstream in(input);
    for (int i = 0; i < 150; ++i) {
      const std::string payload = "{\"i\":" + std::to_string(i) + ",\"s\":\"" + std::string(i % 37, 'x') + "\"}";
      in << "{\"time\": " << i << ", \"user_id\": 2, \"function\": \"echo\", \"payload\": " << payload << "}\n";
      expected.push_back(payload);
    }
  }
  test::Child wrapper({SNAPFAAS_FC_WRAPPER, "--kernel", guest("guest_window_echo"), "--mem_size", "16",
                       "--firerunner", SNAPFAAS_FIRERUNNER, "--id", std::to_string(::getpid() % 100000)},
                      input);
  const std::optional<int> status = wrapper.wait_for(120s);
  ::unlink(input.c_str());
  REQUIRE(status.has_value());
  CHECK_MESSAGE(*status == 0, wrapper.err());
  std::vector<std::string> lines;
  std::string out = wrapper.out();
  for (std::size_t pos = 0, nl; (nl = out.find('\n', pos)) != std::string::npos; pos = nl + 1) {
    lines.push_back(out.substr(pos, nl - pos));
  }
  REQUIRE(lines.size() == expected.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    CAPTURE(i);
    CHECK(lines[i] == expected[i]);
  }
  CHECK(wrapper.err().find("boot_to_first_wait_ms=") != std::string::npos);
  // KVM's counts from the VM's load to its first response, as firerunner published them.
  const std::string key = "load_to_first_response_page_faults=";
  const std::size_t at = wrapper.err().find(key);
  REQUIRE_MESSAGE(at != std::string::npos, wrapper.err());
  CHECK(std::stoull(wrapper.err().substr(at + key.size())) >= 1);  // the guest's first touches of its RAM
}
