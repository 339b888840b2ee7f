// The guest agent on the host: snapfaas-agent runs as a child process over a real channel region
// in /dev/shm (window-file mode, futex doorbells) with a handler.py in a temp dir.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstring>
#include <deque>
#include <map>
#include <random>
#include <string>

#include "tests/guest/agent_harness.h"
#include "ipc/guest_abi.h"
#include "ipc/error_type.h"
#include "ipc/restore_record.h"

#include <signal.h>
#include <thread>

namespace {

using namespace snapfaas;
using guest::test::AgentProcess;
using guest::test::HandlerDir;
using guest::test::RawSupervisor;
using guest::test::unique_name;
using nlohmann::json;

constexpr const char* kHandler = R"PY(
def _checksum(text):
    total = 0
    for i, c in enumerate(text):
        total = (total + ord(c) * (i + 1)) % 4294967296
    return total

RESTORED = [0]

def on_restore():
    RESTORED[0] += 1

def handle(request):
    kind = request.get("kind") if isinstance(request, dict) else None
    if kind == "raise":
        raise ValueError("bad input " + str(request.get("x")))
    if kind == "big":
        return "x" * request["n"]
    if kind == "set":
        return {1, 2}
    if kind == "exit":
        import os
        os._exit(request["status"])
    if kind == "sys_exit":
        import sys
        sys.exit(request["status"])
    if kind == "kill":
        import os, signal
        os.kill(os.getpid(), signal.SIGUSR1)  # not SIGSEGV: ASan catches that one
    if kind == "random":
        import random, os
        return {"random": random.random(), "urandom": os.urandom(8).hex()}
    if kind == "restored":
        return {"count": RESTORED[0]}
    if kind == "log_has":  # whether the agent's log held a text while this handler ran
        with open(request["path"]) as f:
            return {"has": request["text"] in f.read()}
    if kind == "sum":
        return {"id": request["id"], "sum": _checksum(request["data"]), "len": len(request["data"])}
    return {"echo": request}
)PY";

std::uint32_t checksum(const std::string& text) {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < text.size(); ++i) total = (total + static_cast<unsigned char>(text[i]) * (i + 1)) % 4294967296ULL;
  return static_cast<std::uint32_t>(total);
}

/// One request through SupervisorChannel: send, wait, copy out, release.
struct Answer {
  std::uint32_t status = 0;
  std::string text;
  std::uint32_t restore_generation = 0;
};

Answer call(ipc::SupervisorChannel& channel, std::uint64_t id, const std::string& payload) {
  auto slot = channel.send_copy(id, {reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()});
  REQUIRE(slot.has_value());
  auto response = channel.receive(ipc::WaitOptions::within(std::chrono::seconds(30)));
  REQUIRE_MESSAGE(response.has_value(), "no response: ", ipc::to_string(response.error()));
  CHECK(response->request_id == id);
  Answer answer{response->status,
                std::string(reinterpret_cast<const char*>(response->payload.data()), response->payload.size()),
                response->restore_generation};
  REQUIRE(channel.release(response->slot));
  return answer;
}

struct Fixture {
  std::string name = unique_name("ch");
  ipc::SupervisorChannel channel =
      ipc::SupervisorChannel::create(name, {.slot_size = 8192, .slot_count = 8});
  HandlerDir dir{kHandler};
};

}  // namespace

TEST_CASE("agent answers requests, reports handler exceptions and keeps serving") {
  Fixture f;
  AgentProcess agent(f.name, f.dir.path());

  Answer a = call(f.channel, 1, R"({"hello": "world", "n": [1, 2.5, null]})");
  CHECK(a.status == static_cast<std::uint32_t>(ipc::ResponseStatus::kOk));
  json j = json::parse(a.text);
  CHECK(j["ok"] == true);
  CHECK(j["result"] == json::parse(R"({"echo": {"hello": "world", "n": [1, 2.5, null]}})"));
  CHECK(j["duration_ns"].is_number_unsigned());
  CHECK(j.size() == 3);

  a = call(f.channel, 2, R"({"kind": "raise", "x": 42})");
  CHECK(a.status == static_cast<std::uint32_t>(ipc::ResponseStatus::kHandlerError));
  j = json::parse(a.text);
  CHECK(j["ok"] == false);
  CHECK(j["error"]["type"] == "function_error");
  CHECK(j["error"]["exception"] == "ValueError");
  CHECK(j["error"]["message"] == "bad input 42");
  {
    const std::string tb = j["error"]["traceback"];
    CHECK(tb.find("Traceback (most recent call last)") != std::string::npos);
    CHECK(tb.find("in handle") != std::string::npos);
    CHECK(tb.find("ValueError: bad input 42") != std::string::npos);
    CHECK(tb.size() <= ipc::kMaxTraceback);
  }
  CHECK(j["duration_ns"].is_number_unsigned());

  a = call(f.channel, 3, R"({"kind": "set"})");  // not JSON-serialisable
  CHECK(a.status == static_cast<std::uint32_t>(ipc::ResponseStatus::kHandlerError));
  CHECK(json::parse(a.text)["error"]["type"] == "function_error");
  CHECK(json::parse(a.text)["error"]["exception"] == "TypeError");

  a = call(f.channel, 4, R"({"hello": )");  // not JSON
  CHECK(a.status == static_cast<std::uint32_t>(ipc::ResponseStatus::kRejected));
  CHECK(json::parse(a.text)["error"]["type"] == "bad_request");
  CHECK(json::parse(a.text)["error"]["exception"] == "JSONDecodeError");
  CHECK(json::parse(a.text)["duration_ns"] == 0);

  a = call(f.channel, 5, "\"\xff\xfe\"");  // not UTF-8
  CHECK(a.status == static_cast<std::uint32_t>(ipc::ResponseStatus::kRejected));
  CHECK(json::parse(a.text)["error"]["type"] == "bad_request");
  CHECK(json::parse(a.text)["error"]["exception"] == "UnicodeDecodeError");

  a = call(f.channel, 6, R"("plain string")");
  CHECK(json::parse(a.text)["result"] == json::parse(R"({"echo": "plain string"})"));

  CHECK(agent.stop() == 0);
  const std::string log = agent.log();
  const auto base = log.find("snapshot point base");
  const auto diff = log.find("snapshot point diff");
  CHECK(base != std::string::npos);
  CHECK(diff != std::string::npos);
  CHECK(base < diff);
}

TEST_CASE("a response larger than the slot becomes an error response, never truncated") {
  Fixture f;
  AgentProcess agent(f.name, f.dir.path());
  const std::uint32_t slot_size = f.channel.layout().slot_size;

  // {"ok":true,"result":"xx..x","duration_ns":N}: fits when n is small enough, not when it is not.
  Answer fits = call(f.channel, 1, R"({"kind": "big", "n": 8000})");
  CHECK(fits.status == static_cast<std::uint32_t>(ipc::ResponseStatus::kOk));
  CHECK(json::parse(fits.text)["result"].get<std::string>().size() == 8000);

  Answer over = call(f.channel, 2, R"({"kind": "big", "n": )" + std::to_string(slot_size) + "}");
  CHECK(over.status == static_cast<std::uint32_t>(ipc::ResponseStatus::kHandlerError));
  CHECK(over.text.size() < 1024);
  const json j = json::parse(over.text);
  CHECK(j["ok"] == false);
  CHECK(j["error"]["type"] == "response_too_large");
  CHECK(j["error"]["limit"] == slot_size);
  CHECK(j["error"]["size"].get<std::uint64_t>() > slot_size);
  CHECK(j["error"]["message"].get<std::string>().find("exceeds the 8192-byte limit") != std::string::npos);

  Answer after = call(f.channel, 3, R"({"kind": "big", "n": 3})");
  CHECK(json::parse(after.text)["result"] == "xxx");
  CHECK(agent.stop() == 0);
}

TEST_CASE("1000 pipelined requests come back intact (checksums), in order, through a wrapping ring") {
  Fixture f;
  AgentProcess agent(f.name, f.dir.path());
  std::mt19937 rng(7);
  std::map<std::uint64_t, std::string> sent;  // id → data
  std::deque<std::uint64_t> order;
  std::uint64_t next_id = 1, received = 0;
  constexpr std::uint64_t kTotal = 1000;
  while (received < kTotal) {
    while (next_id <= kTotal && f.channel.free_slots() > 0) {
      std::string data(rng() % 3000, '\0');
      for (char& c : data) c = static_cast<char>('a' + rng() % 26);
      const json request = {{"kind", "sum"}, {"id", next_id}, {"data", data}};
      const std::string payload = request.dump();
      REQUIRE(f.channel.send_copy(next_id, {reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()}));
      sent[next_id] = std::move(data);
      order.push_back(next_id++);
    }
    auto response = f.channel.receive(ipc::WaitOptions::within(std::chrono::seconds(30)));
    REQUIRE(response.has_value());
    REQUIRE(response->request_id == order.front());  // one consumer: answered in order
    order.pop_front();
    REQUIRE(response->status == static_cast<std::uint32_t>(ipc::ResponseStatus::kOk));
    const json j = json::parse(std::string(reinterpret_cast<const char*>(response->payload.data()),
                                           response->payload.size()));
    const std::string& data = sent.at(response->request_id);
    REQUIRE(j["result"]["id"] == response->request_id);
    REQUIRE(j["result"]["len"] == data.size());
    REQUIRE(j["result"]["sum"] == checksum(data));
    REQUIRE(f.channel.release(response->slot));
    ++received;
  }
  CHECK(agent.stop() == 0);
}

TEST_CASE("garbage slot index or length in the request ring → error responses, agent keeps serving") {
  Fixture f;
  AgentProcess agent(f.name, f.dir.path());
  RawSupervisor raw(f.name);
  const std::uint32_t slot_size = raw.view().layout().slot_size;

  raw.push({10, 999, 5});  // slot out of range: nowhere to write, empty kRejected naming the slot
  auto r = raw.pop();
  REQUIRE(r.has_value());
  CHECK(r->request_id == 10);
  CHECK(r->slot == 999);
  CHECK(r->length == 0);
  CHECK(r->status == static_cast<std::uint32_t>(ipc::ResponseStatus::kRejected));

  raw.push({11, 0xFFFFFFFFu, 0xFFFFFFFFu});
  r = raw.pop();
  REQUIRE(r.has_value());
  CHECK(r->status == static_cast<std::uint32_t>(ipc::ResponseStatus::kRejected));

  raw.push({12, 1, slot_size + 1});  // length beyond the slot: BadRequest error written in the slot
  r = raw.pop();
  REQUIRE(r.has_value());
  CHECK(r->status == static_cast<std::uint32_t>(ipc::ResponseStatus::kRejected));
  const json bad = json::parse(raw.slot_text(1, r->length));
  CHECK(bad["error"]["type"] == "bad_request");

  const std::string ok = R"({"x": 1})";
  std::memcpy(raw.view().slot(2)->data(), ok.data(), ok.size());
  raw.push({13, 2, static_cast<std::uint32_t>(ok.size())});
  r = raw.pop();
  REQUIRE(r.has_value());
  CHECK(r->status == static_cast<std::uint32_t>(ipc::ResponseStatus::kOk));
  CHECK(json::parse(raw.slot_text(2, r->length))["result"] == json::parse(R"({"echo": {"x": 1}})"));
  CHECK(agent.stop() == 0);
}

TEST_CASE("a corrupt request ring index makes the agent exit with kRingCorrupt, not crash") {
  Fixture f;
  AgentProcess agent(f.name, f.dir.path());
  Answer a = call(f.channel, 1, "{}");  // agent is up
  CHECK(a.status == static_cast<std::uint32_t>(ipc::ResponseStatus::kOk));
  RawSupervisor raw(f.name);
  ipc::RingIndices* ring = raw.view().request_ring().indices;
  std::atomic_ref(ring->tail).store(ring->tail + 1000, std::memory_order_release);  // > capacity ahead
  ipc::Doorbell(raw.view().runner_doorbell()).wake();
  CHECK(agent.wait() == static_cast<int>(ipc::AgentFatal::kRingCorrupt));
  CHECK(agent.log().find("request ring") != std::string::npos);
}

TEST_CASE("setup failures are clear exit codes: bad window, missing handler, import error") {
  SUBCASE("window file is not a channel") {
    HandlerDir dir{kHandler};
    const std::string name = unique_name("junk");
    ipc::ShmObject junk = ipc::ShmObject::create(name, 64 * 1024);
    std::memset(junk.data(), 0x5A, junk.size());
    AgentProcess agent(name, dir.path());
    CHECK(agent.wait() == static_cast<int>(ipc::AgentFatal::kWindowHeader));
    CHECK(agent.log().find("bad magic") != std::string::npos);
  }
  SUBCASE("window file missing") {
    HandlerDir dir{kHandler};
    AgentProcess agent("/snapfaas-agent-test-does-not-exist", dir.path());
    CHECK(agent.wait() == static_cast<int>(ipc::AgentFatal::kWindowMap));
  }
  SUBCASE("no handle() in the module") {
    Fixture f;
    HandlerDir dir{"def other(request):\n    return 1\n"};
    AgentProcess agent(f.name, dir.path());
    CHECK(agent.wait() == static_cast<int>(ipc::AgentFatal::kImport));
    const std::string log = agent.log();
    CHECK(log.find("snapshot point base") != std::string::npos);  // base comes before the import
    CHECK(log.find("snapshot point diff") == std::string::npos);
  }
  SUBCASE("import raises") {
    Fixture f;
    HandlerDir dir{"raise RuntimeError('broken module')\n"};
    AgentProcess agent(f.name, dir.path());
    CHECK(agent.wait() == static_cast<int>(ipc::AgentFatal::kImport));
    CHECK(agent.log().find("RuntimeError: broken module") != std::string::npos);
  }
  SUBCASE("unknown flag") {
    Fixture f;
    AgentProcess agent(f.name, f.dir.path(), {"--no-such-flag"});
    CHECK(agent.wait() == static_cast<int>(ipc::AgentFatal::kUsage));
  }
}

TEST_CASE("the runtime exiting mid-request: the reaper answers function_exited with the status at once") {
  for (const char* kind : {"exit", "sys_exit"}) {
    CAPTURE(kind);
    Fixture f;
    AgentProcess agent(f.name, f.dir.path());
    CHECK(json::parse(call(f.channel, 1, R"({"n": 1})").text)["ok"] == true);
    const auto t0 = std::chrono::steady_clock::now();
    const Answer a = call(f.channel, 2, std::string(R"({"kind": ")") + kind + R"(", "status": 3})");
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
    CHECK(a.status == static_cast<std::uint32_t>(ipc::ResponseStatus::kHandlerError));
    const json j = json::parse(a.text);
    CHECK(j["error"]["type"] == "function_exited");
    CHECK(j["error"]["status"] == 3);
    // The VM is done: the agent (the reaper) exits with kFunctionExited.
    CHECK(agent.wait() == static_cast<int>(ipc::AgentFatal::kFunctionExited));
  }
}

TEST_CASE("the runtime killed by a signal mid-request: function_exited names the signal") {
  Fixture f;
  AgentProcess agent(f.name, f.dir.path());
  const Answer a = call(f.channel, 1, R"({"kind": "kill"})");
  const json j = json::parse(a.text);
  CHECK(j["error"]["type"] == "function_exited");
  CHECK(j["error"]["signal"] == SIGUSR1);
  CHECK(j["error"]["message"].get<std::string>().find("SIGUSR1") != std::string::npos);
  CHECK(agent.wait() == static_cast<int>(ipc::AgentFatal::kFunctionExited));
}

TEST_CASE("a restore record reseeds Python's random and runs on_restore() once per generation") {
  Fixture f;
  AgentProcess agent(f.name, f.dir.path());
  // Clones before the record: the handler's random module was seeded at its first import.
  const json before = json::parse(call(f.channel, 1, R"({"kind": "random"})").text)["result"];
  CHECK(json::parse(call(f.channel, 2, R"({"kind": "restored"})").text)["result"]["count"] == 0);

  std::uint8_t entropy[ipc::kRestoreEntropyBytes];
  for (auto& b : entropy) b = 0x5A;
  const std::int64_t now = 1'780'000'000LL * 1'000'000'000LL;
  CHECK(ipc::publish_restore_record(f.channel.shm().data(), 7, now, entropy) == 1);
  // The agent checks after each WAIT: let it park, then ask.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const json after = json::parse(call(f.channel, 3, R"({"kind": "random"})").text)["result"];
  CHECK(json::parse(call(f.channel, 4, R"({"kind": "restored"})").text)["result"]["count"] == 1);
  // Python's random after the reseed is the sequence of random.seed(int.from_bytes(0x5A * 64)).
  CHECK(after["random"] != before["random"]);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(json::parse(call(f.channel, 5, R"({"kind": "restored"})").text)["result"]["count"] == 1);  // same generation: once

  // A second agent given the same record draws the same random.random(): the seed is the record's.
  Fixture g;
  AgentProcess other(g.name, g.dir.path());
  (void)call(g.channel, 1, R"({"kind": "random"})");  // imports random, like f's first request
  CHECK(ipc::publish_restore_record(g.channel.shm().data(), 7, now, entropy) == 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const json same = json::parse(call(g.channel, 2, R"({"kind": "random"})").text)["result"];
  // f drew one value after its reseed (request 3); g's first draw after its reseed matches it.
  CHECK(same["random"] == after["random"]);
  CHECK(agent.stop() == 0);
  CHECK(other.stop() == 0);
}

TEST_CASE("after a restore: responses say which generation was applied; no console line on the request's path") {
  // The guest's console is a UART (an exit per byte): the restore's log line cost each cold start
  // ~50 ms in the emulated host. The supervisor learns of the reseed from the responses
  // (ResponseDesc::restore_generation); the line is a --verbose one.
  for (const bool verbose : {false, true}) {
    CAPTURE(verbose);
    Fixture f;
    AgentProcess agent(f.name, f.dir.path(), verbose ? std::vector<std::string>{"--verbose"} : std::vector<std::string>{});
    CHECK(call(f.channel, 1, R"({"kind": "restored"})").restore_generation == 0);  // never restored
    std::uint8_t entropy[ipc::kRestoreEntropyBytes] = {};
    CHECK(ipc::publish_restore_record(f.channel.shm().data(), 7, 1'780'000'000LL * 1'000'000'000LL, entropy) == 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // parked in WAIT: applied at its return
    const std::string line = "restore: generation 1 applied";
    const json request = {{"kind", "log_has"}, {"path", (f.dir.path() / "agent.stderr").string()}, {"text", line}};
    const Answer first = call(f.channel, 2, request.dump());
    CHECK(json::parse(first.text)["result"]["has"] == verbose);  // the handler runs after the reseed (and its line)
    CHECK(first.restore_generation == 1);
    const Answer next = call(f.channel, 3, R"({"kind": "restored"})");
    CHECK(json::parse(next.text)["result"]["count"] == 1);
    CHECK(next.restore_generation == 1);
    CHECK(agent.stop() == 0);
    CHECK((agent.log().find(line) != std::string::npos) == verbose);
  }
}
