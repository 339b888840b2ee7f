// common/request_line: the one request-line format of the workload file and fc_wrapper's stdin.
#include <doctest/doctest.h>

#include "common/request_line.h"

using snapfaas::common::format_request_line;
using snapfaas::common::parse_request_line;

TEST_CASE("a seed request line: every field, payload serialized compactly") {
  const auto r = parse_request_line(R"({"time": 15, "user_id": 2, "function": "hello", "payload": {"a": [1, "x"]}})");
  CHECK(r.error.empty());
  CHECK_FALSE(r.blank);
  REQUIRE(r.time_ms.has_value());
  CHECK(*r.time_ms == 15);
  CHECK(r.user_id == 2);
  CHECK(r.function == "hello");
  CHECK(r.payload == R"({"a":[1,"x"]})");
  CHECK(parse_request_line(R"({"payload": null})").payload == "null");
  CHECK(parse_request_line(R"({"payload": "s"})").payload == "\"s\"");
}

TEST_CASE("absent fields: no time, user 0, no function, payload {} (one rule for both readers)") {
  const auto r = parse_request_line(R"({"function": "f"})");
  CHECK(r.error.empty());
  CHECK_FALSE(r.time_ms.has_value());
  CHECK(r.user_id == 0);
  CHECK(r.payload == "{}");
  CHECK(parse_request_line("{}").function.empty());
}

TEST_CASE("malformed lines say why in one line; blank lines are blank") {
  CHECK(parse_request_line("").blank);
  CHECK(parse_request_line("  \t\r").blank);
  CHECK(parse_request_line("not json").error == "not valid JSON");
  CHECK(parse_request_line(R"({"payload": )").error == "not valid JSON");
  CHECK(parse_request_line("{\"payload\": \"\xff\"}").error == "not valid JSON");  // invalid UTF-8
  CHECK(parse_request_line("[1, 2]").error == "not a JSON object");
  CHECK(parse_request_line(R"({"function": 3})").error == "'function' must be a non-empty string");
  CHECK(parse_request_line(R"({"function": ""})").error == "'function' must be a non-empty string");
  CHECK(parse_request_line(R"({"time": "x"})").error == "'time' must be a non-negative integer (ms)");
  CHECK(parse_request_line(R"({"time": -1})").error == "'time' must be a non-negative integer (ms)");
  CHECK(parse_request_line(R"({"time": 1.5})").error == "'time' must be a non-negative integer (ms)");
  CHECK(parse_request_line(R"({"user_id": 1.5})").error == "'user_id' must be a non-negative integer");
  CHECK(parse_request_line(R"({"user_id": -2})").error == "'user_id' must be a non-negative integer");
}

TEST_CASE("format_request_line round-trips; text that is not JSON becomes a string") {
  const auto r = parse_request_line(format_request_line(7, 3, "f", R"({"k": [true]})"));
  REQUIRE(r.error.empty());
  CHECK(*r.time_ms == 7);
  CHECK(r.user_id == 3);
  CHECK(r.function == "f");
  CHECK(r.payload == R"({"k":[true]})");
  CHECK(parse_request_line(format_request_line(0, 0, "f", "plain text")).payload == "\"plain text\"");
}
