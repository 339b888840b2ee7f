// Setup errors name the step and the errno text.
#include "common/error.h"

#include <doctest/doctest.h>

#include <cerrno>
#include <string>

using snapfaas::common::check_sys;
using snapfaas::common::Error;
using snapfaas::common::sys_error;

TEST_CASE("sys_error names step and errno") {
  const Error e = sys_error("KVM_SET_USER_MEMORY_REGION slot 0", EINVAL);
  CHECK(std::string(e.what()) == "KVM_SET_USER_MEMORY_REGION slot 0: Invalid argument");
}

TEST_CASE("check_sys passes results through and throws on negatives") {
  CHECK(check_sys(7, "ok step") == 7);
  errno = ENOENT;
  CHECK_THROWS_WITH_AS(check_sys(-1, "open /nonexistent"), "open /nonexistent: No such file or directory",
                       Error);
}
