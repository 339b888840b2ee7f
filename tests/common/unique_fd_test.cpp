// UniqueFd closes exactly once and hands ownership over on move.
#include "common/unique_fd.h"

#include <doctest/doctest.h>
#include <fcntl.h>

using snapfaas::common::UniqueFd;

namespace {
bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }
}  // namespace

TEST_CASE("UniqueFd closes on destruction") {
  int raw = -1;
  {
    UniqueFd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    REQUIRE(fd.valid());
    raw = fd.get();
    CHECK(is_open(raw));
  }
  CHECK_FALSE(is_open(raw));
}

TEST_CASE("UniqueFd move transfers ownership") {
  UniqueFd a(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  const int raw = a.get();
  UniqueFd b(std::move(a));
  CHECK_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): checking the moved-from state
  CHECK(b.get() == raw);
  UniqueFd c;
  c = std::move(b);
  CHECK(c.get() == raw);
  CHECK(is_open(raw));
  c.reset();
  CHECK_FALSE(is_open(raw));
}

TEST_CASE("UniqueFd release gives up ownership") {
  UniqueFd a(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  const int raw = a.release();
  CHECK_FALSE(a.valid());
  CHECK(is_open(raw));
  ::close(raw);
}
