// Tests of supervisor/workload: reading JSON lines (errors with line numbers) and the seeded
// Poisson generator.
#include <doctest/doctest.h>

#include <cmath>
#include <sstream>

#include "common/error.h"
#include "supervisor/workload.h"

using namespace snapfaas::supervisor;

namespace {
std::string read_error(const std::string& text) {
  std::istringstream in(text);
  try {
    (void)read_workload(in, "w.jsonl");
  } catch (const snapfaas::common::Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("read_workload: good lines, blank lines skipped, payload kept") {
  std::istringstream in(
      R"({"time": 0, "user_id": 3, "function": "hello", "payload": {"a": 1}})"
      "\n\n"
      R"({"time": 5, "function": "echo"})"
      "\n"
      R"({"time": 5, "user_id": 1, "function": "hello", "payload": [1, "x"]})"
      "\n");
  const auto w = read_workload(in, "w.jsonl");
  REQUIRE(w.size() == 3);
  CHECK(w[0].time_ms == 0);
  CHECK(w[0].user_id == 3);
  CHECK(w[0].function == "hello");
  CHECK(w[0].payload == R"({"a":1})");
  CHECK(w[1].payload == "{}");
  CHECK(w[2].payload == R"([1,"x"])");
}

TEST_CASE("read_workload: errors carry the line number") {
  CHECK(read_error("{\"time\": 5, \"function\": \"f\"}\n{\"time\": 4, \"function\": \"f\"}\n")
            .find("w.jsonl:2: time 4 decreases") == 0);
  CHECK(read_error("{\"time\": 1, \"function\": \"f\"}\n\nnot json\n").find("w.jsonl:3: not valid JSON") == 0);
  CHECK(read_error("{\"function\": \"f\"}\n").find("w.jsonl:1: 'time'") == 0);
  CHECK(read_error("{\"time\": -1, \"function\": \"f\"}\n").find("w.jsonl:1: 'time'") == 0);
  CHECK(read_error("{\"time\": 1.5, \"function\": \"f\"}\n").find("w.jsonl:1: 'time'") == 0);
  CHECK(read_error("{\"time\": 1, \"function\": 7}\n").find("w.jsonl:1: 'function'") == 0);
  CHECK(read_error("{\"time\": 1, \"function\": \"f\", \"user_id\": \"u\"}\n").find("w.jsonl:1: 'user_id'") == 0);
}

TEST_CASE("to_json_line round-trips through read_workload") {
  const WorkloadRequest r{42, 7, "fn", R"({"k":"v"})"};
  std::istringstream in(to_json_line(r) + "\n");
  const auto w = read_workload(in, "x");
  REQUIRE(w.size() == 1);
  CHECK(w[0].time_ms == 42);
  CHECK(w[0].user_id == 7);
  CHECK(w[0].function == "fn");
  CHECK(w[0].payload == r.payload);
}

TEST_CASE("generate_workload: seeded, sorted, within the window, Poisson rate") {
  WorkloadSpec spec;
  spec.mean_interarrival_ms = {{"a", 10.0}, {"b", 40.0}};
  spec.start_ms = 1000;
  spec.end_ms = 201'000;
  spec.users = 5;
  spec.seed = 99;
  const auto w1 = generate_workload(spec);
  const auto w2 = generate_workload(spec);
  REQUIRE(w1.size() == w2.size());
  for (std::size_t i = 0; i < w1.size(); ++i) {
    CHECK(w1[i].time_ms == w2[i].time_ms);
    CHECK(w1[i].function == w2[i].function);
    CHECK(w1[i].user_id == w2[i].user_id);
  }
  std::size_t a = 0, b = 0;
  for (std::size_t i = 0; i < w1.size(); ++i) {
    CHECK(w1[i].time_ms >= 1000);
    CHECK(w1[i].time_ms < 201'000);
    CHECK(w1[i].user_id < 5);
    if (i > 0) CHECK(w1[i - 1].time_ms <= w1[i].time_ms);
    (w1[i].function == "a" ? a : b)++;
  }
  // 200 s / 10 ms = 20000 expected (sd ~141); 200 s / 40 ms = 5000 (sd ~71).
  CHECK(std::abs(static_cast<double>(a) - 20000.0) < 800.0);
  CHECK(std::abs(static_cast<double>(b) - 5000.0) < 400.0);
  spec.seed = 100;
  const auto w3 = generate_workload(spec);
  bool differs = w3.size() != w1.size();
  for (std::size_t i = 0; !differs && i < w1.size(); ++i) differs = w1[i].time_ms != w3[i].time_ms;
  CHECK(differs);
}

TEST_CASE("generate_workload: invalid specs") {
  WorkloadSpec spec;
  spec.mean_interarrival_ms = {{"a", 0.0}};
  CHECK_THROWS_AS((void)generate_workload(spec), snapfaas::common::Error);
  spec.mean_interarrival_ms = {{"a", 1.0}};
  spec.end_ms = spec.start_ms;
  CHECK_THROWS_AS((void)generate_workload(spec), snapfaas::common::Error);
}
