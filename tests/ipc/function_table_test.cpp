// ipc/function_table.h: the table the supervisor writes and firerunner reads.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "common/error.h"
#include "ipc/function_table.h"

namespace {

using snapfaas::ipc::FunctionTableEntry;
using snapfaas::ipc::kMaxTableFunctions;

std::vector<FunctionTableEntry> table_of(std::size_t n) {
  std::vector<FunctionTableEntry> table;
  for (std::size_t i = 0; i < n; ++i) {
    std::string name = "f";  // not "f" + to_string(i): GCC 12's -Wrestrict false positive
    name += std::to_string(i);
    table.push_back({name, {"/s/base", "/s/" + name}, "/a/f.ext2", i % 2 == 0, false});
  }
  return table;
}

}  // namespace

TEST_CASE("function table: what is written is read back, entry for entry") {
  const auto table = table_of(3);
  CHECK(snapfaas::ipc::parse_function_table(snapfaas::ipc::format_function_table(table), "t") == table);
}

TEST_CASE("function table: at most kMaxTableFunctions, refused on both sides with the count") {
  const auto full = table_of(kMaxTableFunctions);
  CHECK(snapfaas::ipc::parse_function_table(snapfaas::ipc::format_function_table(full), "t").size() == kMaxTableFunctions);
  // Before, a runner answered kLoadFailed for every function past the 128 it opens at start.
  CHECK_THROWS_WITH_AS((void)snapfaas::ipc::format_function_table(table_of(kMaxTableFunctions + 1)),
                       doctest::Contains("129 functions, at most 128"), snapfaas::common::Error);
  std::string text = snapfaas::ipc::format_function_table(full);
  text.replace(text.find("\"functions\": ["), 14, "\"functions\": [{\"name\": \"extra\"},");
  CHECK_THROWS_WITH_AS((void)snapfaas::ipc::parse_function_table(text, "t"), doctest::Contains("t: 129 functions"),
                       snapfaas::common::Error);
}

TEST_CASE("function table: malformed text is one clear error") {
  CHECK_THROWS_WITH_AS((void)snapfaas::ipc::parse_function_table("{", "t"), doctest::Contains("t: not valid JSON"),
                       snapfaas::common::Error);
  CHECK_THROWS_WITH_AS((void)snapfaas::ipc::parse_function_table(R"({"functions": [{"snapshot_dirs": 3}]})", "t"),
                       doctest::Contains("t entry 0"), snapfaas::common::Error);
}
