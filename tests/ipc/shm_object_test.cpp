// ShmObject: create/open, scoped removal (creator only), clear errors, a second mapping via the fd;
// named objects 0600; sealed objects (fixed size, owner, passed as an inherited descriptor).
#include "ipc/shm_object.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "common/error.h"
#include "tests/ipc/test_support.h"

using namespace snapfaas::ipc;
using snapfaas::common::Error;
using snapfaas::ipc::test::fork_child;
using snapfaas::ipc::test::unique_name;
using snapfaas::ipc::test::wait_child;

TEST_CASE("names follow /snapfaas-<pid>-r<N> and /snapfaas-<pid>-stats") {
  CHECK(channel_object_name(1234, 7) == "/snapfaas-1234-r7");
  CHECK(stats_object_name(1234) == "/snapfaas-1234-stats");
}

TEST_CASE("create zero-fills; open sees the same bytes; the creator removes the name") {
  const std::string name = unique_name("shm");
  {
    ShmObject owner = ShmObject::create(name, 10000);
    CHECK(owner.owns_name());
    CHECK(owner.size() == 10000);
    CHECK(owner.data()[9999] == 0);
    std::memcpy(owner.data(), "abc", 3);
    ShmObject other = ShmObject::open(name, ShmObject::Access::kReadOnly);
    CHECK_FALSE(other.owns_name());
    CHECK(other.size() == 10000);
    CHECK(std::memcmp(other.data(), "abc", 3) == 0);
    CHECK_THROWS_WITH_AS(ShmObject::create(name, 10), doctest::Contains("File exists"), Error);
  }
  CHECK_THROWS_WITH_AS(ShmObject::open(name, ShmObject::Access::kReadWrite),
                       doctest::Contains((name + ": No such file or directory").c_str()), Error);
  CHECK_FALSE(ShmObject::remove(name));
}

TEST_CASE("moving keeps exactly one owner of the name") {
  const std::string name = unique_name("shm");
  ShmObject a = ShmObject::create(name, 4096);
  ShmObject b = std::move(a);
  CHECK(b.owns_name());
  CHECK_FALSE(a.owns_name());  // NOLINT(bugprone-use-after-move): moved-from state is specified
  b.data()[0] = 1;
  CHECK(ShmObject::open(name, ShmObject::Access::kReadOnly).data()[0] == 1);
}

TEST_CASE("a forked child destroying its copy does not remove the parent's name") {
  const std::string name = unique_name("shm");
  ShmObject owner = ShmObject::create(name, 4096);
  const pid_t child = fork_child([&owner] {
    { ShmObject moved = std::move(owner); }  // destructor runs in the child
    return 0;
  });
  CHECK(wait_child(child) == 0);
  CHECK_NOTHROW((void)ShmObject::open(name, ShmObject::Access::kReadOnly));
}

TEST_CASE("dup_fd maps the same object MAP_SHARED elsewhere") {
  ShmObject owner = ShmObject::create(unique_name("shm"), 8192);
  snapfaas::common::UniqueFd fd = owner.dup_fd();
  REQUIRE(fd.valid());
  void* p = ::mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  REQUIRE(p != MAP_FAILED);
  static_cast<std::uint8_t*>(p)[8191] = 0x77;
  CHECK(owner.data()[8191] == 0x77);
  ::munmap(p, 8192);
}

TEST_CASE("a named object is created 0600: no other uid may open it") {
  ShmObject owner = ShmObject::create(unique_name("shm"), 4096);
  struct stat st {};
  REQUIRE(::fstat(owner.fd(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("a sealed object: 0600, owned as asked, and nobody holding it can change its size") {
  ShmObject owner = ShmObject::create_sealed("sealed-test", 3 * 4096, ShmOwner{4242, 4243});
  struct stat st {};
  REQUIRE(::fstat(owner.fd(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(st.st_uid == 4242);
  CHECK(st.st_gid == 4243);
  CHECK(st.st_size == 3 * 4096);
  CHECK((::fcntl(owner.fd(), F_GET_SEALS) & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) ==
        (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL));
  CHECK(::ftruncate(owner.fd(), 0) == -1);
  CHECK(errno == EPERM);
  CHECK(::ftruncate(owner.fd(), 4 * 4096) == -1);
  CHECK(::fcntl(owner.fd(), F_ADD_SEALS, F_SEAL_WRITE) == -1);  // F_SEAL_SEAL: the set is final
  owner.data()[3 * 4096 - 1] = 0x5a;
  // A child that inherits the descriptor (as a runner does) maps the same bytes and cannot shrink it.
  const int fd = owner.fd();
  const pid_t child = fork_child([fd] {
    const int inherited = ::fcntl(fd, F_DUPFD, 10);  // what the jailer's dup2 hands a runner
    ShmObject mine = ShmObject::open(ShmObject::fd_reference(inherited), ShmObject::Access::kReadWrite);
    if (mine.size() != 3 * 4096 || mine.data()[3 * 4096 - 1] != 0x5a) return 2;
    mine.data()[0] = 0x77;
    if (::ftruncate(mine.fd(), 0) == 0 || errno != EPERM) return 3;
    if (::fallocate(mine.fd(), 0, 0, 8 * 4096) == 0) return 4;  // growing is refused too
    return 0;
  });
  CHECK(wait_child(child) == 0);
  CHECK(owner.data()[0] == 0x77);
  CHECK(owner.data()[3 * 4096 - 1] == 0x5a);  // still mapped whole: no SIGBUS here
}

TEST_CASE("fd:N references: a bad one is a clear error") {
  CHECK_THROWS_WITH_AS(ShmObject::open("fd:x", ShmObject::Access::kReadWrite), doctest::Contains("not a descriptor"), Error);
  CHECK_THROWS_WITH_AS(ShmObject::open("fd:987654", ShmObject::Access::kReadWrite), doctest::Contains("fd:987654"), Error);
}
