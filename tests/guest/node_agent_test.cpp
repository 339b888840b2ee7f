// The Node.js guest agent on the host: node runs guest/node/agent.js with the snapfaas_agent.node
// addon over a real channel region in /dev/shm (futex doorbells), a handler.js in a temp dir.
// $SNAPFAAS_TEST_AGENT replaces the command (node_agent_in_rootfs_test.sh: the nodejs image's own
// Node, chrooted); by default the host's node runs the build tree's agent.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <string>

#include "ipc/guest_abi.h"
#include "tests/guest/agent_harness.h"

namespace {

using namespace snapfaas;
using guest::test::AgentProcess;
using guest::test::HandlerDir;
using guest::test::RawSupervisor;
using guest::test::unique_name;
using nlohmann::json;

constexpr const char* kHandler = R"JS(
'use strict';
const zlib = require('node:zlib');
const util = require('node:util');
const gzip = util.promisify(zlib.gzip);
function checksum(text) {
  let total = 0;
  for (let i = 0; i < text.length; ++i) total = (total + text.charCodeAt(i) * (i + 1)) % 4294967296;
  return total;
}
class QuotaError extends Error { constructor(m) { super(m); this.name = 'QuotaError'; } }
module.exports.handle = (request) => {
  const kind = request && request.kind;
  if (kind === 'throw') throw new RangeError('bad input ' + request.x);
  if (kind === 'custom') throw new QuotaError('over quota');
  if (kind === 'string') throw 'a plain string';
  if (kind === 'reject') return Promise.reject(new TypeError('async failure'));
  if (kind === 'bigint') return { n: 10n };
  if (kind === 'undefined') return undefined;
  if (kind === 'big') return 'x'.repeat(request.n);
  if (kind === 'gzip') return gzip(Buffer.from(request.text)).then((b) => ({ size: b.length, head: b[0] }));
  if (kind === 'later') return new Promise((resolve) => setTimeout(() => resolve({ waited: request.ms }), request.ms));
  if (kind === 'sum') return { id: request.id, sum: checksum(request.data), len: request.data.length };
  if (kind === 'uuids') {
    const c = require('node:crypto');
    return [c.randomUUID(), c.webcrypto.randomUUID(), (globalThis.crypto ?? c.webcrypto).randomUUID(), c.randomInt(10, 11)];  // globalThis.crypto: Node 19+
  }
  if (kind === 'random') return Array.from({ length: request.n }, () => Math.random());
  return { echo: request };
};
)JS";

std::uint32_t checksum(const std::string& text) {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < text.size(); ++i) total = (total + static_cast<unsigned char>(text[i]) * (i + 1)) % 4294967296ULL;
  return static_cast<std::uint32_t>(total);
}

struct Answer {
  std::uint32_t status = 0;
  std::string text;
  [[nodiscard]] json body() const { return json::parse(text); }
};

Answer call(ipc::SupervisorChannel& channel, std::uint64_t id, const std::string& payload) {
  auto slot = channel.send_copy(id, {reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()});
  REQUIRE(slot.has_value());
  auto response = channel.receive(ipc::WaitOptions::within(std::chrono::seconds(60)));
  REQUIRE_MESSAGE(response.has_value(), "no response: ", ipc::to_string(response.error()));
  CHECK(response->request_id == id);
  Answer answer{response->status, std::string(reinterpret_cast<const char*>(response->payload.data()),
                                              response->payload.size())};
  REQUIRE(channel.release(response->slot));
  return answer;
}

// The default command: the host's node with the build tree's agent (see the file comment).
void use_node_agent() {
  if (const char* custom = std::getenv("SNAPFAAS_TEST_AGENT"); custom != nullptr && *custom != '\0') return;
  ::setenv("SNAPFAAS_TEST_AGENT", SNAPFAAS_NODE " " SNAPFAAS_NODE_AGENT_DIR "/agent.js", 1);
}

constexpr auto kOk = static_cast<std::uint32_t>(ipc::ResponseStatus::kOk);
constexpr auto kHandlerError = static_cast<std::uint32_t>(ipc::ResponseStatus::kHandlerError);
constexpr auto kRejected = static_cast<std::uint32_t>(ipc::ResponseStatus::kRejected);

struct Fixture {
  Fixture() { use_node_agent(); }
  std::string name = unique_name("node");
  ipc::SupervisorChannel channel = ipc::SupervisorChannel::create(name, {.slot_size = 8192, .slot_count = 8});
  HandlerDir dir{kHandler, "handler.js"};
};

}  // namespace

TEST_CASE("node agent: results, thrown and rejected errors, awaited promises, bad requests") {
  Fixture f;
  AgentProcess agent(f.name, f.dir.path());

  Answer a = call(f.channel, 1, R"({"hello": "wörld", "n": [1, 2.5, null]})");
  CHECK(a.status == kOk);
  json j = a.body();
  CHECK(j["ok"] == true);
  CHECK(j["result"] == json::parse(R"({"echo": {"hello": "wörld", "n": [1, 2.5, null]}})"));
  CHECK(j["duration_ns"].is_number_unsigned());
  CHECK(j.size() == 3);

  a = call(f.channel, 2, R"({"kind": "throw", "x": 42})");
  CHECK(a.status == kHandlerError);
  CHECK(a.body()["ok"] == false);
  CHECK(a.body()["error"]["type"] == "function_error");
  CHECK(a.body()["error"]["exception"] == "RangeError");
  CHECK(a.body()["error"]["message"] == "bad input 42");
  CHECK(a.body()["error"]["traceback"].get<std::string>().rfind("RangeError: bad input 42\n    at ", 0) == 0);

  a = call(f.channel, 3, R"({"kind": "custom"})");
  CHECK(a.body()["error"]["type"] == "function_error");
  CHECK(a.body()["error"]["exception"] == "QuotaError");
  CHECK(a.body()["error"]["message"] == "over quota");

  a = call(f.channel, 4, R"({"kind": "string"})");  // a thrown non-Error
  CHECK(a.status == kHandlerError);
  CHECK(a.body()["error"]["exception"] == "Error");
  CHECK(a.body()["error"]["message"] == "a plain string");
  CHECK(a.body()["error"]["traceback"] == "");

  a = call(f.channel, 5, R"({"kind": "reject"})");  // a rejected Promise is awaited
  CHECK(a.status == kHandlerError);
  CHECK(a.body()["error"]["type"] == "function_error");
  CHECK(a.body()["error"]["exception"] == "TypeError");
  CHECK(a.body()["error"]["message"] == "async failure");

  a = call(f.channel, 6, R"({"kind": "bigint"})");  // not JSON-serializable
  CHECK(a.status == kHandlerError);
  CHECK(a.body()["error"]["type"] == "function_error");
  CHECK(a.body()["error"]["exception"] == "TypeError");

  a = call(f.channel, 7, R"({"kind": "undefined"})");
  CHECK(a.status == kOk);
  CHECK(a.body()["result"].is_null());

  a = call(f.channel, 8, R"({"kind": "gzip", "text": "hello hello hello"})");  // libuv thread pool
  CHECK(a.status == kOk);
  CHECK(a.body()["result"]["head"] == 0x1f);

  a = call(f.channel, 9, R"({"kind": "later", "ms": 30})");  // a timer on the event loop
  CHECK(a.status == kOk);
  CHECK(a.body()["result"]["waited"] == 30);
  CHECK(a.body()["duration_ns"].get<std::uint64_t>() >= 25'000'000);

  a = call(f.channel, 10, R"({"hello": )");  // not JSON
  CHECK(a.status == kRejected);
  CHECK(a.body()["error"]["type"] == "bad_request");
  CHECK(a.body()["error"]["exception"] == "SyntaxError");
  CHECK(a.body()["duration_ns"] == 0);

  a = call(f.channel, 11, "\"\xff\xfe\"");  // not UTF-8
  CHECK(a.status == kRejected);
  CHECK(a.body()["error"]["type"] == "bad_request");
  CHECK(a.body()["error"]["exception"] == "TypeError");

  a = call(f.channel, 12, R"("plain string")");
  CHECK(a.body()["result"] == json::parse(R"({"echo": "plain string"})"));

  // The agent's use-noting wrappers of randomUUID (node:crypto and webcrypto) and randomInt.
  a = call(f.channel, 13, R"({"kind": "uuids"})");
  REQUIRE_MESSAGE(a.status == kOk, a.text);
  const json ids = a.body()["result"];
  CHECK(ids[0].get<std::string>().size() == 36);
  CHECK(ids[1].get<std::string>().size() == 36);
  CHECK(ids[2].get<std::string>().size() == 36);
  CHECK(ids[0] != ids[1]);
  CHECK(ids[1] != ids[2]);
  CHECK(ids[3] == 10);

  CHECK(agent.stop() == 0);
  const std::string log = agent.log();
  const auto base = log.find("snapshot point base");
  const auto diff = log.find("snapshot point diff");
  CHECK(base != std::string::npos);
  CHECK(diff != std::string::npos);
  CHECK(base < diff);
  CHECK(log.find("shutdown requested: served 13 requests (7 errors") != std::string::npos);
  CHECK(log.find("RAND_add") == std::string::npos);  // OpenSSL's generator was found and reseeded
}

TEST_CASE("node agent: a response larger than the slot is an error, never truncated") {
  Fixture f;
  AgentProcess agent(f.name, f.dir.path());
  const std::uint32_t slot_size = f.channel.layout().slot_size;
  Answer fits = call(f.channel, 1, R"({"kind": "big", "n": 8000})");
  CHECK(fits.status == kOk);
  CHECK(fits.body()["result"].get<std::string>().size() == 8000);
  Answer over = call(f.channel, 2, R"({"kind": "big", "n": )" + std::to_string(slot_size) + "}");
  CHECK(over.status == kHandlerError);
  CHECK(over.body()["error"]["type"] == "response_too_large");
  CHECK(over.body()["error"]["message"].get<std::string>().find("exceeds the slot size of 8192") != std::string::npos);
  CHECK(over.body()["error"]["limit"] == 8192);
  CHECK(over.body()["error"]["size"].get<std::uint64_t>() > 8192);
  CHECK(call(f.channel, 3, R"({"kind": "big", "n": 3})").body()["result"] == "xxx");
  CHECK(agent.stop() == 0);
}

TEST_CASE("node agent: 500 pipelined requests come back intact, in order, through a wrapping ring") {
  Fixture f;
  AgentProcess agent(f.name, f.dir.path());
  std::mt19937 rng(11);
  std::map<std::uint64_t, std::string> sent;
  std::deque<std::uint64_t> order;
  std::uint64_t next_id = 1, received = 0;
  constexpr std::uint64_t kTotal = 500;
  while (received < kTotal) {
    while (next_id <= kTotal && f.channel.free_slots() > 0) {
      std::string data(rng() % 3000, '\0');
      for (char& c : data) c = static_cast<char>('a' + rng() % 26);
      const std::string payload = json{{"kind", "sum"}, {"id", next_id}, {"data", data}}.dump();
      REQUIRE(f.channel.send_copy(next_id, {reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()}));
      sent[next_id] = std::move(data);
      order.push_back(next_id++);
    }
    auto response = f.channel.receive(ipc::WaitOptions::within(std::chrono::seconds(60)));
    REQUIRE(response.has_value());
    REQUIRE(response->request_id == order.front());
    order.pop_front();
    REQUIRE(response->status == kOk);
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

TEST_CASE("node agent: garbage slot index or length → error responses from the shared ring server") {
  Fixture f;
  AgentProcess agent(f.name, f.dir.path());
  RawSupervisor raw(f.name);
  raw.push({10, 999, 5});
  auto r = raw.pop(std::chrono::seconds(60));
  REQUIRE(r.has_value());
  CHECK(r->slot == 999);
  CHECK(r->status == kRejected);
  raw.push({12, 1, raw.view().layout().slot_size + 1});
  r = raw.pop();
  REQUIRE(r.has_value());
  CHECK(r->status == kRejected);
  CHECK(json::parse(raw.slot_text(1, r->length))["error"]["type"] == "bad_request");
  const std::string ok = R"({"x": 1})";
  std::memcpy(raw.view().slot(2)->data(), ok.data(), ok.size());
  raw.push({13, 2, static_cast<std::uint32_t>(ok.size())});
  r = raw.pop();
  REQUIRE(r.has_value());
  CHECK(r->status == kOk);
  CHECK(json::parse(raw.slot_text(2, r->length))["result"] == json::parse(R"({"echo": {"x": 1}})"));
  CHECK(agent.stop() == 0);
}

TEST_CASE("node agent: Math.random is the reseedable generator, uniform in [0, 1)") {
  Fixture f;
  AgentProcess agent(f.name, f.dir.path());
  json values = json::array();
  for (std::uint64_t id = 1; id <= 14; ++id) {  // 300 doubles per 8 KiB slot
    const json batch = call(f.channel, id, R"({"kind": "random", "n": 300})").body();
    REQUIRE(batch["ok"] == true);
    for (const auto& v : batch["result"]) values.push_back(v);
  }
  REQUIRE(values.size() == 4200);
  double sum = 0;
  std::set<double> distinct;
  int low = 0;
  for (const auto& v : values) {
    const double d = v.get<double>();
    REQUIRE(d >= 0.0);
    REQUIRE(d < 1.0);
    sum += d;
    low += d < 0.5;
    distinct.insert(d);
  }
  CHECK(distinct.size() == 4200);
  CHECK(sum / 4200 == doctest::Approx(0.5).epsilon(0.05));
  CHECK(low > 1900);
  CHECK(low < 2300);
  CHECK(agent.stop() == 0);
}

TEST_CASE("node agent: setup failures are clear exit codes") {
  use_node_agent();
  SUBCASE("window file is not a channel") {
    HandlerDir dir{kHandler, "handler.js"};
    const std::string name = unique_name("junk");
    ipc::ShmObject junk = ipc::ShmObject::create(name, 64 * 1024);
    std::memset(junk.data(), 0x5A, junk.size());
    AgentProcess agent(name, dir.path());
    CHECK(agent.wait(std::chrono::seconds(60)) == static_cast<int>(ipc::AgentFatal::kWindowHeader));
    CHECK(agent.log().find("bad magic") != std::string::npos);
  }
  SUBCASE("no handler.js") {
    Fixture f;
    HandlerDir dir{"module.exports.handle = () => 1;\n", "other.js"};
    AgentProcess agent(f.name, dir.path());
    CHECK(agent.wait(std::chrono::seconds(60)) == static_cast<int>(ipc::AgentFatal::kImport));
    const std::string log = agent.log();
    CHECK(log.find("snapshot point base") != std::string::npos);
    CHECK(log.find("snapshot point diff") == std::string::npos);
    CHECK(log.find("handler.js") != std::string::npos);
  }
  SUBCASE("handle is not a function") {
    Fixture f;
    HandlerDir dir{"module.exports.other = () => 1;\n", "handler.js"};
    AgentProcess agent(f.name, dir.path());
    CHECK(agent.wait(std::chrono::seconds(60)) == static_cast<int>(ipc::AgentFatal::kImport));
    CHECK(agent.log().find("handler.handle is missing or not a function") != std::string::npos);
  }
  SUBCASE("the module throws while loading") {
    Fixture f;
    HandlerDir dir{"throw new Error('broken module');\n", "handler.js"};
    AgentProcess agent(f.name, dir.path());
    CHECK(agent.wait(std::chrono::seconds(60)) == static_cast<int>(ipc::AgentFatal::kImport));
    CHECK(agent.log().find("Error: broken module") != std::string::npos);
  }
  SUBCASE("a syntax error in the module") {
    Fixture f;
    HandlerDir dir{"module.exports.handle = (request) => {\n", "handler.js"};
    AgentProcess agent(f.name, dir.path());
    CHECK(agent.wait(std::chrono::seconds(60)) == static_cast<int>(ipc::AgentFatal::kImport));
    CHECK(agent.log().find("SyntaxError") != std::string::npos);
  }
}
