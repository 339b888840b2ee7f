// ipc/error_type.h: every type has one unique name that maps back to it, the guest's subset, and
// which types discard the VM.
#include <doctest/doctest.h>

#include <cstring>
#include <set>
#include <string>

#include "ipc/error_type.h"

using namespace snapfaas::ipc;

TEST_CASE("error types: names are unique and round-trip; out-of-range values have none") {
  std::set<std::string> names;
  for (std::uint32_t t = 1; t <= kMaxErrorType; ++t) {
    const char* name = error_type_name(static_cast<ErrorType>(t));
    REQUIRE(name != nullptr);
    CHECK(names.insert(name).second);
    CHECK(error_type_from_name(name, std::strlen(name)) == t);
    CHECK(http_status(static_cast<ErrorType>(t)) >= 400);
  }
  CHECK(names.size() == kMaxErrorType);
  CHECK(error_type_name(static_cast<ErrorType>(0)) == nullptr);
  CHECK(error_type_name(static_cast<ErrorType>(kMaxErrorType + 1)) == nullptr);
  CHECK(error_type_from_name("", 0) == 0);
  CHECK(error_type_from_name("function_error\0", 15) == 0);  // an embedded NUL is not the name
  CHECK(error_type_from_name("FUNCTION_ERROR", 14) == 0);
}

TEST_CASE("error types: the architecture's vocabulary is all there") {
  for (const char* name : {"function_error", "function_exited", "out_of_memory", "response_too_large",
                           "request_too_large", "timeout", "function_unhealthy", "no_capacity", "unknown_function"}) {
    CHECK_MESSAGE(error_type_from_name(name, std::strlen(name)) != 0, name);
  }
}

TEST_CASE("error types: what a guest may say, and what discards its VM") {
  CHECK(guest_may_report(ErrorType::kFunctionError));
  CHECK(guest_may_report(ErrorType::kFunctionExited));
  CHECK(guest_may_report(ErrorType::kOutOfMemory));
  CHECK(guest_may_report(ErrorType::kResponseTooLarge));
  CHECK_FALSE(guest_may_report(ErrorType::kTimeout));
  CHECK_FALSE(guest_may_report(ErrorType::kFunctionUnhealthy));
  CHECK_FALSE(guest_may_report(ErrorType::kRunnerFailed));
  CHECK(discards_vm(ErrorType::kFunctionExited));
  CHECK(discards_vm(ErrorType::kOutOfMemory));
  CHECK(discards_vm(ErrorType::kTimeout));
  CHECK_FALSE(discards_vm(ErrorType::kFunctionError));  // the VM keeps serving
  CHECK_FALSE(discards_vm(ErrorType::kResponseTooLarge));
}
