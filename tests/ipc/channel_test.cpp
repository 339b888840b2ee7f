// SupervisorChannel <-> RunnerChannel: round trips, slot accounting, control ring, readiness and
// wait_any over several channels, hostile peers, timeouts, and a two-process run of 10^6 messages
// with checksums.
#include "ipc/channel.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "common/error.h"
#include "tests/ipc/test_support.h"

using namespace snapfaas::ipc;
using snapfaas::ipc::test::fork_child;
using snapfaas::ipc::test::unique_name;
using snapfaas::ipc::test::wait_child;

namespace {

constexpr ChannelConfig kSmall{.slot_size = 4096, .slot_count = 4};

std::vector<std::uint8_t> bytes_of(std::string_view s) { return {s.begin(), s.end()}; }

std::uint64_t fnv1a(std::span<const std::uint8_t> data) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (std::uint8_t b : data) h = (h ^ b) * 0x100000001b3ULL;
  return h;
}

// A second, raw producer on a ring of the same region: plays a hostile peer.
template <typename T>
RingProducer<T> raw_producer(const ShmObject& shm, RingSection (ChannelView::*ring)() const) {
  Result<ChannelView> view = ChannelView::attach(shm.data(), shm.size());
  REQUIRE(view);
  return RingProducer<T>(((*view).*ring)());
}

}  // namespace

TEST_CASE("a request and its response travel through the same slot") {
  SupervisorChannel sup = SupervisorChannel::create(unique_name("chan"), kSmall);
  RunnerChannel run = RunnerChannel::open(sup.shm().name());
  CHECK(run.layout().slot_count == 4);

  Result<std::uint32_t> slot = sup.send_copy(41, bytes_of("hello"));
  REQUIRE(slot);
  CHECK(sup.free_slots() == 3);

  Result<Request> req = run.try_receive();
  REQUIRE(req);
  CHECK(req->request_id == 41);
  CHECK(req->slot == *slot);
  CHECK(std::string(req->payload.begin(), req->payload.end()) == "hello");
  std::memcpy(req->slot_bytes.data(), "HELLO, WORLD", 12);  // response written in place
  REQUIRE(run.respond(41, req->slot, 12));
  CHECK(run.try_receive().error() == IpcError::kRingEmpty);

  Result<Response> resp = sup.try_receive();
  REQUIRE(resp);
  CHECK(resp->request_id == 41);
  CHECK(resp->status == static_cast<std::uint32_t>(ResponseStatus::kOk));
  CHECK(std::string(resp->payload.begin(), resp->payload.end()) == "HELLO, WORLD");
  REQUIRE(sup.release(resp->slot));
  CHECK(sup.free_slots() == 4);
  CHECK(sup.release(resp->slot).error() == IpcError::kSlotNotInFlight);  // double free
}

TEST_CASE("zero-copy send: acquire, write in place, send") {
  SupervisorChannel sup = SupervisorChannel::create(unique_name("chan"), kSmall);
  RunnerChannel run = RunnerChannel::open(sup.shm().name());
  Result<std::uint32_t> slot = sup.acquire_slot();
  REQUIRE(slot);
  Result<std::span<std::uint8_t>> buf = sup.slot_bytes(*slot);
  REQUIRE(buf);
  CHECK(buf->size() == 4096);
  std::memset(buf->data(), 0x5A, 4096);
  REQUIRE(sup.send(7, *slot, 4096));
  CHECK(sup.slot_bytes(*slot).error() == IpcError::kSlotNotInFlight);  // in flight: not writable
  Result<Request> req = run.try_receive();
  REQUIRE(req);
  CHECK(req->payload.size() == 4096);
  CHECK(req->payload[4095] == 0x5A);
}

TEST_CASE("oversize payload is an error, nothing is sent or truncated") {
  SupervisorChannel sup = SupervisorChannel::create(unique_name("chan"), kSmall);
  RunnerChannel run = RunnerChannel::open(sup.shm().name());
  std::vector<std::uint8_t> big(4097, 1);
  CHECK(sup.send_copy(1, big).error() == IpcError::kPayloadTooLarge);
  CHECK(sup.free_slots() == 4);
  CHECK(run.try_receive().error() == IpcError::kRingEmpty);
  Result<std::uint32_t> slot = sup.acquire_slot();
  REQUIRE(slot);
  CHECK(sup.send(1, *slot, 4097).error() == IpcError::kPayloadTooLarge);
  CHECK(run.respond(1, 0, 4097).error() == IpcError::kPayloadTooLarge);
  CHECK(run.respond(1, 4, 1).error() == IpcError::kSlotOutOfRange);
}

TEST_CASE("every slot in flight: kNoFreeSlot until a response is released") {
  SupervisorChannel sup = SupervisorChannel::create(unique_name("chan"), kSmall);
  RunnerChannel run = RunnerChannel::open(sup.shm().name());
  for (std::uint64_t id = 0; id < 4; ++id) REQUIRE(sup.send_copy(id, bytes_of("x")));
  CHECK(sup.send_copy(4, bytes_of("x")).error() == IpcError::kNoFreeSlot);
  Result<Request> req = run.try_receive();
  REQUIRE(req);
  REQUIRE(run.respond(req->request_id, req->slot, 0));
  Result<Response> resp = sup.try_receive();
  REQUIRE(resp);
  CHECK(resp->payload.empty());
  REQUIRE(sup.release(resp->slot));
  CHECK(sup.send_copy(4, bytes_of("x")));
}

TEST_CASE("a response's restore generation reaches the supervisor as the runner wrote it (a report only)") {
  SupervisorChannel sup = SupervisorChannel::create(unique_name("chan"), kSmall);
  RingProducer<ResponseDesc> evil = raw_producer<ResponseDesc>(sup.shm(), &ChannelView::response_ring);
  Result<std::uint32_t> slot = sup.send_copy(5, bytes_of("req"));
  REQUIRE(slot);
  REQUIRE(evil.try_push(ResponseDesc{5, *slot, 1, 0, 0xFFFFFFFF}));
  Result<Response> r = sup.try_receive();
  REQUIRE(r);
  CHECK(r->restore_generation == 0xFFFFFFFF);
  CHECK(sup.release(*slot));
}

TEST_CASE("hostile responses: unknown slot, wrong id, oversize length, broken indices") {
  SupervisorChannel sup = SupervisorChannel::create(unique_name("chan"), kSmall);
  RingProducer<ResponseDesc> evil = raw_producer<ResponseDesc>(sup.shm(), &ChannelView::response_ring);
  Result<std::uint32_t> slot = sup.send_copy(5, bytes_of("req"));
  REQUIRE(slot);

  REQUIRE(evil.try_push(ResponseDesc{5, 1000, 1, 0, 0}));
  CHECK(sup.try_receive().error() == IpcError::kSlotOutOfRange);
  REQUIRE(evil.try_push(ResponseDesc{5, *slot + 1, 1, 0, 0}));
  CHECK(sup.try_receive().error() == IpcError::kSlotNotInFlight);
  REQUIRE(evil.try_push(ResponseDesc{6, *slot, 1, 0, 0}));
  CHECK(sup.try_receive().error() == IpcError::kRequestIdMismatch);
  REQUIRE(evil.try_push(ResponseDesc{5, *slot, 0xFFFFFFFF, 0, 0}));
  CHECK(sup.try_receive().error() == IpcError::kLengthOutOfRange);
  CHECK(sup.release(*slot).error() == IpcError::kSlotNotInFlight);  // still in flight

  // The runner moves its tail far ahead.
  Result<ChannelView> view = ChannelView::attach(sup.shm().data(), sup.shm().size());
  REQUIRE(view);
  view->response_ring().indices->tail += 1000;
  CHECK(sup.try_receive().error() == IpcError::kIndexAhead);
  CHECK(sup.receive(WaitOptions::within(std::chrono::milliseconds(10))).error() == IpcError::kIndexAhead);
}

TEST_CASE("hostile requests: slot and length out of range are errors for the runner") {
  SupervisorChannel sup = SupervisorChannel::create(unique_name("chan"), kSmall);
  RunnerChannel run = RunnerChannel::open(sup.shm().name());
  RingProducer<RequestDesc> evil = raw_producer<RequestDesc>(sup.shm(), &ChannelView::request_ring);
  REQUIRE(evil.try_push(RequestDesc{1, 4, 1}));
  CHECK(run.try_receive().error() == IpcError::kSlotOutOfRange);
  REQUIRE(evil.try_push(RequestDesc{1, 0, 4097}));
  CHECK(run.try_receive().error() == IpcError::kLengthOutOfRange);
  REQUIRE(evil.try_push(RequestDesc{1, 3, 4096}));
  Result<Request> ok = run.try_receive();
  REQUIRE(ok);
  CHECK(ok->payload.size() == 4096);
}

TEST_CASE("control commands and replies; unknown opcodes are rejected") {
  SupervisorChannel sup = SupervisorChannel::create(unique_name("chan"), kSmall);
  RunnerChannel run = RunnerChannel::open(sup.shm().name());
  REQUIRE(sup.send_control(ControlCommand{1, static_cast<std::uint32_t>(ControlOp::kRestore), 3, 0, 0}));
  REQUIRE(run.wait(WaitOptions::within(std::chrono::seconds(1))));  // control rings the runner bell
  Result<ControlCommand> cmd = run.try_control();
  REQUIRE(cmd);
  CHECK(cmd->op == static_cast<std::uint32_t>(ControlOp::kRestore));
  CHECK(cmd->arg0 == 3);
  REQUIRE(run.reply_control(ControlReply{cmd->command_id, cmd->op, 0, 1234}));
  Result<ControlReply> reply = sup.control_reply(WaitOptions::within(std::chrono::seconds(1)));
  REQUIRE(reply);
  CHECK(reply->command_id == 1);
  CHECK(reply->value == 1234);

  REQUIRE(sup.send_control(ControlCommand{2, 77, 0, 0, 0}));
  CHECK(run.try_control().error() == IpcError::kBadControlOp);
  REQUIRE(sup.send_control(ControlCommand{3, 0, 0, 0, 0}));
  CHECK(run.try_control().error() == IpcError::kBadControlOp);
  CHECK(run.try_control().error() == IpcError::kRingEmpty);
  for (std::uint64_t i = 0; i < kControlCapacity; ++i) REQUIRE(sup.send_control(ControlCommand{i, 4, 0, 0, 0}));
  CHECK(sup.send_control(ControlCommand{99, 4, 0, 0, 0}).error() == IpcError::kRingFull);
}

TEST_CASE("readable() and control_readable() follow the private heads; wait_any over channels' doorbells") {
  SupervisorChannel a = SupervisorChannel::create(unique_name("chan"), kSmall);
  SupervisorChannel b = SupervisorChannel::create(unique_name("chan"), kSmall);
  RunnerChannel run_a = RunnerChannel::open(a.shm().name());
  RunnerChannel run_b = RunnerChannel::open(b.shm().name());
  CHECK_FALSE(a.readable());
  CHECK_FALSE(run_a.control_readable());
  REQUIRE(a.send_control(ControlCommand{1, static_cast<std::uint32_t>(ControlOp::kPing), 0, 0, 0}));
  CHECK(run_a.control_readable());
  Result<ControlCommand> cmd = run_a.try_control();
  REQUIRE(cmd);
  CHECK_FALSE(run_a.control_readable());

  std::vector<Doorbell*> bells{&a.supervisor_doorbell(), &b.supervisor_doorbell()};
  auto any_readable = [&] { return a.readable() || b.readable(); };
  CHECK(wait_any(bells, any_readable, std::chrono::steady_clock::now() + std::chrono::milliseconds(20)).error() ==
        IpcError::kTimedOut);

  // A control reply on a, then a response on b: each makes its channel readable.
  REQUIRE(run_a.reply_control(ControlReply{cmd->command_id, cmd->op, 0, 0}));
  REQUIRE(wait_any(bells, any_readable, std::chrono::steady_clock::now() + std::chrono::seconds(1)));
  CHECK(a.readable());
  CHECK_FALSE(b.readable());
  REQUIRE(a.try_control_reply());
  CHECK_FALSE(a.readable());
  Result<std::uint32_t> slot = b.send_copy(5, bytes_of("x"));
  REQUIRE(slot);
  Result<Request> req = run_b.try_receive();
  REQUIRE(req);
  REQUIRE(run_b.respond(req->request_id, req->slot, 0));
  REQUIRE(wait_any(bells, any_readable, std::chrono::steady_clock::now() + std::chrono::seconds(1)));
  CHECK(b.readable());
  REQUIRE(b.try_receive());
  CHECK_FALSE(b.readable());

  // A hostile runner moving the supervisor's head in shared memory changes nothing for readable().
  Result<ChannelView> view = ChannelView::attach(b.shm().data(), b.shm().size());
  REQUIRE(view);
  std::atomic_ref(view->response_ring().indices->head).store(0, std::memory_order_relaxed);
  CHECK_FALSE(b.readable());
}

TEST_CASE("waits time out at their deadline") {
  SupervisorChannel sup = SupervisorChannel::create(unique_name("chan"), kSmall);
  RunnerChannel run = RunnerChannel::open(sup.shm().name());
  const auto start = std::chrono::steady_clock::now();
  CHECK(run.wait(WaitOptions::within(std::chrono::milliseconds(30))).error() == IpcError::kTimedOut);
  CHECK(sup.receive(WaitOptions::within(std::chrono::milliseconds(30))).error() == IpcError::kTimedOut);
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(60));
  WaitOptions past{.spin = std::chrono::nanoseconds(0), .deadline = std::chrono::steady_clock::now()};
  CHECK(run.wait(past).error() == IpcError::kTimedOut);
}

TEST_CASE("open fails clearly: missing object, corrupt header") {
  const std::string missing = unique_name("missing");
  CHECK_THROWS_WITH_AS(RunnerChannel::open(missing), doctest::Contains(missing.c_str()), snapfaas::common::Error);
  SupervisorChannel sup = SupervisorChannel::create(unique_name("chan"), kSmall);
  sup.shm().data()[0] ^= 0xFF;
  CHECK_THROWS_WITH_AS(RunnerChannel::open(sup.shm().name()), doctest::Contains("bad header magic"),
                       snapfaas::common::Error);
  CHECK_THROWS_WITH_AS(SupervisorChannel::create(sup.shm().name(), kSmall), doctest::Contains("File exists"),
                       snapfaas::common::Error);
  CHECK_THROWS_AS(SupervisorChannel::create(unique_name("chan"), ChannelConfig{.slot_size = 100, .slot_count = 4}),
                  snapfaas::common::Error);
}

TEST_CASE("two processes move 10^6 messages with checksums") {
  constexpr std::uint64_t kMessages = 1'000'000;
  SupervisorChannel sup = SupervisorChannel::create(unique_name("fork"), ChannelConfig{.slot_size = 4096, .slot_count = 32});
  const std::string name = sup.shm().name();

  // Runner: answer each request with {request id, fnv1a(payload)} until told to shut down.
  const pid_t child = fork_child([&name] {
    RunnerChannel run = RunnerChannel::open(name);
    for (;;) {
      if (!run.wait(WaitOptions::within(std::chrono::seconds(10)))) return 2;
      for (Result<Request> req = run.try_receive(); req; req = run.try_receive()) {
        const std::uint64_t out[2] = {req->request_id, fnv1a(req->payload)};
        std::memcpy(req->slot_bytes.data(), out, sizeof out);
        if (!run.respond(req->request_id, req->slot, sizeof out)) return 3;
      }
      if (Result<ControlCommand> cmd = run.try_control(); cmd) {
        if (cmd->op != static_cast<std::uint32_t>(ControlOp::kShutdown)) return 4;
        return run.reply_control(ControlReply{cmd->command_id, cmd->op, 0, 0}) ? 0 : 5;
      }
    }
  });
  REQUIRE(child > 0);

  // Plain ifs in the loop (doctest assertions per message would dominate the run time).
  std::vector<std::uint64_t> expected(32);
  std::uint64_t sent = 0, received = 0, bad = 0, sum = 0;
  IpcError failure{};
  bool failed = false;
  std::uint8_t payload[256];
  while (received < kMessages && !failed) {
    while (sent < kMessages && sup.free_slots() > 0 && !failed) {
      const std::size_t len = 8 + sent % 200;
      for (std::size_t i = 0; i < len; ++i) payload[i] = static_cast<std::uint8_t>(sent * 31 + i);
      Result<std::uint32_t> slot = sup.send_copy(sent, std::span<const std::uint8_t>(payload, len));
      if (!slot) {
        failure = slot.error();
        failed = true;
        break;
      }
      expected[*slot] = fnv1a(std::span<const std::uint8_t>(payload, len));
      ++sent;
    }
    Result<Response> resp = sup.receive(WaitOptions::within(std::chrono::seconds(10)));
    if (!resp) {
      failure = resp.error();
      failed = true;
      break;
    }
    std::uint64_t got[2] = {~std::uint64_t{0}, 0};
    if (resp->payload.size() == sizeof got) std::memcpy(got, resp->payload.data(), sizeof got);
    if (got[0] != resp->request_id || got[1] != expected[resp->slot]) ++bad;
    sum += got[1];
    if (!sup.release(resp->slot)) ++bad;
    ++received;
  }
  CHECK_MESSAGE(!failed, to_string(failure));
  CHECK(received == kMessages);
  CHECK(bad == 0);
  CHECK(sum != 0);
  REQUIRE(sup.send_control(ControlCommand{1, static_cast<std::uint32_t>(ControlOp::kShutdown), 0, 0, 0}));
  Result<ControlReply> reply = sup.control_reply(WaitOptions::within(std::chrono::seconds(10)));
  REQUIRE(reply);
  CHECK(reply->status == 0);
  CHECK(wait_child(child) == 0);
}
