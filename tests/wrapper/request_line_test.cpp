// wrapper/request_line: the seed's JSON-lines request format.
#include <doctest/doctest.h>

#include "wrapper/request_line.h"

using snapfaas::wrapper::parse_request_line;

TEST_CASE("a seed request line yields only its payload") {
  const auto r = parse_request_line(R"({"time": 15, "user_id": 2, "function": "hello", "payload": {"a": [1, "x"]}})");
  CHECK(r.error.empty());
  CHECK_FALSE(r.blank);
  CHECK(r.payload == R"({"a":[1,"x"]})");
  CHECK(r.function == "hello");
  CHECK(parse_request_line(R"({"payload": null})").payload == "null");
  CHECK(parse_request_line(R"({"payload": "s"})").payload == "\"s\"");
}

TEST_CASE("malformed lines say why; blank lines are blank") {
  CHECK(parse_request_line("").blank);
  CHECK(parse_request_line("  \t\r").blank);
  CHECK(parse_request_line("not json").error.find("invalid JSON") == 0);
  CHECK(parse_request_line(R"({"payload": )").error.find("invalid JSON") == 0);
  CHECK(parse_request_line("[1, 2]").error == "request is not a JSON object");
  CHECK(parse_request_line(R"({"time": 1})").error == "request has no \"payload\"");
  CHECK(parse_request_line(R"({"function": 3, "payload": {}})").error == "\"function\" is not a string");
  CHECK(parse_request_line(R"({"time": "x", "payload": {}})").error == "\"time\" is not a number");
  CHECK(parse_request_line(R"({"user_id": 1.5, "payload": {}})").error == "\"user_id\" is not an integer");
}
