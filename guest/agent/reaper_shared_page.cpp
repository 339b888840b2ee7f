// InFlightPage across exec (see reaper.h): the page in a memfd, for the Node.js agent, whose
// reaper (guest/node/node_reaper_main.cpp) execs node in its child. Apart from reaper.cpp so that
// an agent that forks without exec (the CPython one) links none of it.
#include <sys/mman.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "guest/agent/agent_failure.h"
#include "guest/agent/reaper.h"

namespace snapfaas::guest {
namespace {

constexpr std::size_t kPageBytes = 4096;

[[noreturn]] void fail(const std::string& what) {
  throw AgentFailure(ipc::AgentFatal::kWindowMap, "in-flight page: " + what + ": " + std::strerror(errno));
}

}  // namespace

InFlightPage InFlightPage::create_shared(common::UniqueFd* fd) {
  // No MFD_CLOEXEC: the runtime exec'd in the child maps the same page (adopt).
  common::UniqueFd memfd(::memfd_create("snapfaas-in-flight", 0));
  if (!memfd) fail("memfd_create");
  if (::ftruncate(memfd.get(), kPageBytes) != 0) fail("ftruncate");
  void* p = ::mmap(nullptr, kPageBytes, PROT_READ | PROT_WRITE, MAP_SHARED, memfd.get(), 0);
  if (p == MAP_FAILED) fail("mmap");
  *fd = std::move(memfd);
  return InFlightPage(static_cast<Record*>(p));
}

InFlightPage InFlightPage::adopt(int fd) {
  const common::UniqueFd owned(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail("fd " + std::to_string(fd));
  if (!S_ISREG(st.st_mode) || st.st_size != static_cast<off_t>(kPageBytes)) {
    errno = EINVAL;
    fail("fd " + std::to_string(fd) + " is not a one-page memfd of the reaper");
  }
  void* p = ::mmap(nullptr, kPageBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) fail("mmap fd " + std::to_string(fd));
  return InFlightPage(static_cast<Record*>(p));
}

}  // namespace snapfaas::guest
