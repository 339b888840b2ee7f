// Tests of supervisor/response_check: what a guest's successful response must be before the
// supervisor passes it on (JSON, valid UTF-8, bounded nesting), and that the reason never quotes it.
#include <doctest/doctest.h>

#include <string>

#include "supervisor/response_check.h"

using snapfaas::supervisor::kMaxResponseDepth;
using snapfaas::supervisor::response_problem;

TEST_CASE("response check: JSON values pass") {
  CHECK_FALSE(response_problem(R"({"greeting":"hello","n":[1,2.5,true,null]})"));
  CHECK_FALSE(response_problem(R"("caf\u00e9 \u2603")"));
  CHECK_FALSE(response_problem("\"caf\xc3\xa9\""));  // UTF-8 é
  CHECK_FALSE(response_problem("42"));
  CHECK_FALSE(response_problem(" [ ] \n"));
}

TEST_CASE("response check: invalid UTF-8, garbage, empty and trailing bytes are refused without quoting them") {
  for (const std::string& body : {std::string("\"\xff\xfe\""), std::string("\"abc\xc3\""), std::string("\xff"),
                                 std::string("not json"), std::string(""), std::string("{} x"),
                                 std::string("{\"a\":1"), std::string("\x00\x01", 2)}) {
    const auto problem = response_problem(body);
    REQUIRE(problem);
    CHECK(problem->find("not valid JSON") != std::string::npos);
    for (unsigned char c : *problem) CHECK(c < 0x80);  // plain ASCII: safe in any result line
  }
}

TEST_CASE("response check: nesting is bounded, however deep the guest goes") {
  const auto nested = [](std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  CHECK_FALSE(response_problem(nested(kMaxResponseDepth)));
  const auto too_deep = response_problem(nested(kMaxResponseDepth + 1));
  REQUIRE(too_deep);
  CHECK(too_deep->find("nested deeper than 512") != std::string::npos);
  CHECK(response_problem(std::string(16 * 1024 * 1024, '[')));  // a whole slot of '[': refused, no stack overflow
  CHECK(response_problem(std::string(100000, '{')));
}
