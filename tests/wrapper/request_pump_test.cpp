// wrapper/request_pump: request/response handling against a fake consumer thread (RunnerChannel),
// no VM: ordering, malformed lines, oversize payloads, timeouts with late answers, a dead peer.
#include <doctest/doctest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <sstream>
#include <thread>

#include "tests/wrapper/fake_runner.h"
#include "wrapper/request_pump.h"

namespace {

using namespace snapfaas;
using nlohmann::json;

std::string unique_name() {
  static int counter = 0;
  return "/snapfaas-wrapper-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

wrapper::PumpOptions options(std::chrono::milliseconds timeout) {
  wrapper::PumpOptions o;
  o.timeout = timeout;
  return o;
}

/// A channel with a fake consumer thread serving it.
struct Served {
  std::string name = unique_name();
  ipc::SupervisorChannel channel = ipc::SupervisorChannel::create(name, {.slot_size = 4096, .slot_count = 4});
  std::atomic<bool> stop{false};
  std::thread consumer{[this] {
    ipc::RunnerChannel runner = ipc::RunnerChannel::open(name);
    wrapper::test::serve_fake(runner, stop);
  }};
  ~Served() {
    stop.store(true, std::memory_order_relaxed);
    consumer.join();
  }
};

}  // namespace

TEST_CASE("responses come out one per line, in input order; malformed and blank lines handled") {
  Served s;
  wrapper::RequestPump pump(s.channel, options(std::chrono::seconds(10)));
  std::stringstream in, out, timing;
  for (int i = 0; i < 100; ++i) {
    in << R"({"time": )" << i << R"(, "user_id": 1, "function": "echo", "payload": {"i": )" << i << "}}\n";
    if (i % 10 == 3) in << "this is not json\n";
    if (i % 10 == 5) in << "\n";
    if (i % 10 == 7) in << R"({"time": -1, "payload": {}})" << '\n';
  }
  CHECK(pump.run(in, out, timing) == 120);
  int answered = 0, malformed = 0;
  std::string line;
  int expect = 0;
  while (std::getline(out, line)) {
    const json j = json::parse(line);
    if (j["ok"] == true) {
      CHECK(j["result"]["i"] == expect++);
      ++answered;
    } else {
      CHECK(j["error"]["type"] == "bad_request");
      ++malformed;
    }
  }
  CHECK(answered == 100);
  CHECK(malformed == 20);
  int timing_lines = 0;
  while (std::getline(timing, line)) {
    CHECK(line.find("fc_wrapper: request ") == 0);
    CHECK(line.find(" rtt_us=") != std::string::npos);
    ++timing_lines;
  }
  CHECK(timing_lines == 100);
}

TEST_CASE("a payload larger than a slot is an error line and nothing is sent") {
  Served s;
  wrapper::RequestPump pump(s.channel, options(std::chrono::seconds(10)));
  const std::string big(5000, 'a');
  const auto r = pump.process_line(R"({"payload": ")" + big + R"("})");
  REQUIRE(r.has_value());
  CHECK_FALSE(r->sent);
  const json j = json::parse(r->output);
  CHECK(j["error"]["type"] == "request_too_large");
  CHECK(j["error"]["message"].get<std::string>().find("5002 bytes") != std::string::npos);
  CHECK(s.channel.free_slots() == 4);
  const auto next = pump.process_line(R"({"payload": 7})");
  CHECK(json::parse(next->output)["result"] == 7);
}

TEST_CASE("late answers of timed-out requests never leak into later lines") {
  Served s;
  wrapper::RequestPump pump(s.channel, options(std::chrono::milliseconds(100)));
  CHECK(json::parse(pump.process_line(R"({"payload": {"sleep_ms": 300, "n": 1}})")->output)["error"]["type"] ==
        "timeout");
  // The next request waits behind the slow one in the consumer; with a longer timeout it is
  // answered, and the slow one's answer (arriving first) is dropped.
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  const auto next = pump.process_line(R"({"payload": {"n": 2}})");
  REQUIRE(next.has_value());
  const json j = json::parse(next->output);
  REQUIRE(j["ok"] == true);
  CHECK(j["result"]["n"] == 2);
  CHECK(s.channel.free_slots() == 4);  // both slots returned
}

TEST_CASE("non-JSON responses and a dead peer become error lines") {
  Served s;
  wrapper::RequestPump pump(s.channel, options(std::chrono::seconds(10)));
  CHECK(json::parse(pump.process_line(R"({"payload": {"garbage": true}})")->output)["error"]["type"] ==
        "bad_response");

  const std::string name = unique_name();
  ipc::SupervisorChannel lonely = ipc::SupervisorChannel::create(name, {.slot_size = 4096, .slot_count = 2});
  wrapper::RequestPump dead(lonely, {.timeout = std::chrono::seconds(10), .peer_alive = [] { return false; }, .after_first = {}});
  const auto start = std::chrono::steady_clock::now();
  CHECK(json::parse(dead.process_line(R"({"payload": 1})")->output)["error"]["type"] == "runner_failed");
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}

TEST_CASE("after_first (fc_wrapper --dump_ws) runs once, after the first answered request's line is out") {
  Served s;
  wrapper::PumpOptions o = options(std::chrono::seconds(10));
  std::stringstream in, out, timing;
  int calls = 0;
  std::size_t lines_out_then = 0;
  o.after_first = [&] {
    ++calls;
    const std::string text = out.str();
    lines_out_then = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
  };
  wrapper::RequestPump pump(s.channel, o);
  in << "not json\n\n";  // answered (bad_request) but never sent: not the first request
  for (int i = 0; i < 3; ++i) in << R"({"time": 1, "user_id": 1, "function": "echo", "payload": {"i": )" << i << "}}\n";
  CHECK(pump.run(in, out, timing) == 4);
  CHECK(calls == 1);
  CHECK(lines_out_then == 2);  // the bad line's and the first request's
}

TEST_CASE("after_first throwing ends run() (fc_wrapper: the working set could not be recorded)") {
  Served s;
  wrapper::PumpOptions o = options(std::chrono::seconds(10));
  o.after_first = [] { throw std::runtime_error("--dump_ws: runner replied working set not recorded"); };
  wrapper::RequestPump pump(s.channel, o);
  std::stringstream in, out, timing;
  for (int i = 0; i < 3; ++i) in << R"({"time": 1, "user_id": 1, "function": "echo", "payload": {}})" << '\n';
  CHECK_THROWS_WITH_AS(pump.run(in, out, timing), doctest::Contains("working set not recorded"), std::runtime_error);
}
