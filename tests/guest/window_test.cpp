// guest/agent/window: both mapping modes show exactly the guest's view of a channel — header page,
// then [request_offset, total) — with the control rings absent, and refuse bad sources.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "guest/agent/agent_failure.h"
#include "guest/agent/window.h"
#include "ipc/channel.h"

using namespace snapfaas;

namespace {
std::string unique_name() { return "/snapfaas-window-test-" + std::to_string(::getpid()); }

ipc::AgentFatal failure_of(const guest::WindowSource& source) {
  try {
    (void)guest::Window::map(source);
  } catch (const guest::AgentFailure& e) {
    return e.code();
  }
  return static_cast<ipc::AgentFatal>(0);
}
}  // namespace

TEST_CASE("channel-region mode aliases the channel's rings and slots, not its control rings") {
  const std::string name = unique_name();
  ipc::SupervisorChannel channel = ipc::SupervisorChannel::create(name, {.slot_size = 8192, .slot_count = 5});
  const ipc::ChannelLayout& l = channel.layout();
  const guest::Window window = guest::Window::map({"/dev/shm" + name, 0, true, true});
  CHECK(window.layout().size == ipc::kPageSize + l.total_size - l.request_offset);
  CHECK(window.slot_count() == 5);
  CHECK(window.slot_size() == 8192);
  CHECK(window.slot(5).empty());
  CHECK(window.slot(0xFFFFFFFFu).empty());

  // A request sent by the supervisor is visible in the window: ring entry and slot bytes.
  const std::string payload = "{\"a\":1}";
  auto slot = channel.send_copy(77, {reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()});
  REQUIRE(slot.has_value());
  ipc::RingConsumer<ipc::RequestDesc> requests(window.request_ring());
  CHECK(requests.readable());
  ipc::Result<ipc::RequestDesc> entry = requests.try_pop();
  REQUIRE(entry.has_value());
  CHECK(entry->slot == *slot);
  CHECK(entry->request_id == 77);
  CHECK(std::memcmp(window.slot(*slot).data(), payload.data(), payload.size()) == 0);

  // Every byte of the window belongs to the header page or to [request_offset, total): the page
  // after the header page in the window is the request ring, never the control ring.
  CHECK(reinterpret_cast<std::uint8_t*>(window.request_ring().indices) ==
        reinterpret_cast<std::uint8_t*>(window.runner_doorbell()) - ipc::kRunnerDoorbellOffset + ipc::kPageSize);
}

TEST_CASE("contiguous mode (the guest's /dev/mem path) at a page-aligned offset; header page read-only") {
  const ipc::ChannelLayout l = ipc::compute_channel_layout(4096, 3);
  const std::uint64_t window_bytes = ipc::window_size(l);
  // Build a window image: a formatted region's header page + [request_offset, total).
  std::vector<std::uint8_t> region(l.total_size, 0);
  REQUIRE(ipc::ChannelView::format(region.data(), region.size(), 4096, 3).has_value());
  std::memset(region.data() + l.slots_offset + 2 * 4096, 0xAB, 4096);  // slot 2
  char path[] = "/tmp/snapfaas-window-test-XXXXXX";
  common::UniqueFd fd(::mkstemp(path));
  REQUIRE(fd.valid());
  const std::vector<std::uint8_t> junk(2 * ipc::kPageSize, 0x11);
  REQUIRE(::write(fd.get(), junk.data(), junk.size()) == static_cast<ssize_t>(junk.size()));
  REQUIRE(::write(fd.get(), region.data(), ipc::kPageSize) == static_cast<ssize_t>(ipc::kPageSize));
  const std::uint64_t rest = l.total_size - l.request_offset;
  REQUIRE(::write(fd.get(), region.data() + l.request_offset, rest) == static_cast<ssize_t>(rest));

  {
    const guest::Window window = guest::Window::map({path, 2 * ipc::kPageSize, false, false});
    CHECK(window.layout().size == window_bytes);
    CHECK(window.slot(2)[0] == 0xAB);
    CHECK(window.slot(2)[4095] == 0xAB);
    CHECK(window.slot(1)[0] == 0);
    CHECK_FALSE(ipc::RingConsumer<ipc::RequestDesc>(window.request_ring()).readable());
    // The header page is mapped read-only: a write faults (in a child, so the test survives it).
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::signal(SIGSEGV, SIG_DFL);  // die quietly, without the sanitizer's report
      std::atomic_ref(window.runner_doorbell()->seq).store(1, std::memory_order_relaxed);
      ::_exit(0);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGSEGV);
  }

  CHECK(failure_of({path, 100, false, false}) == ipc::AgentFatal::kWindowMap);          // unaligned
  CHECK(failure_of({path, 0, false, false}) == ipc::AgentFatal::kWindowHeader);         // junk, not a header
  REQUIRE(::ftruncate(fd.get(), static_cast<off_t>(2 * ipc::kPageSize + window_bytes - 1)) == 0);
  CHECK(failure_of({path, 2 * ipc::kPageSize, false, false}) == ipc::AgentFatal::kWindowHeader);  // short
  CHECK(failure_of({"/nonexistent/window", 0, false, false}) == ipc::AgentFatal::kWindowMap);
  ::unlink(path);
}

TEST_CASE("same_layout: a restored guest keeps its window mapping while the header shows the same layout") {
  // The guest's /dev/mem path: a window image in a file (header page + rings and slots).
  auto image = [](std::uint32_t slots) {
    const ipc::ChannelLayout l = ipc::compute_channel_layout(4096, slots);
    std::vector<std::uint8_t> region(l.total_size, 0);
    REQUIRE(ipc::ChannelView::format(region.data(), region.size(), 4096, slots).has_value());
    std::vector<std::uint8_t> out(ipc::kPageSize + (l.total_size - l.request_offset));
    std::memcpy(out.data(), region.data(), ipc::kPageSize);
    std::memcpy(out.data() + ipc::kPageSize, region.data() + l.request_offset, l.total_size - l.request_offset);
    return out;
  };
  const std::vector<std::uint8_t> three = image(3), four = image(4);
  char path[] = "/tmp/snapfaas-window-test-XXXXXX";
  common::UniqueFd fd(::mkstemp(path));
  REQUIRE(fd.valid());
  REQUIRE(::write(fd.get(), four.data(), four.size()) == static_cast<ssize_t>(four.size()));  // the larger file
  REQUIRE(::pwrite(fd.get(), three.data(), ipc::kPageSize, 0) == static_cast<ssize_t>(ipc::kPageSize));
  const guest::Window window = guest::Window::map({path, 0, false, false});
  REQUIRE(window.slot_count() == 3);
  CHECK(window.same_layout());  // a new channel of the same shape: the mapping serves it
  REQUIRE(::pwrite(fd.get(), four.data(), ipc::kPageSize, 0) == static_cast<ssize_t>(ipc::kPageSize));
  CHECK_FALSE(window.same_layout());  // another slot count: map anew
  const std::vector<std::uint8_t> junk(ipc::kPageSize, 0x11);
  REQUIRE(::pwrite(fd.get(), junk.data(), junk.size(), 0) == static_cast<ssize_t>(junk.size()));
  CHECK_FALSE(window.same_layout());  // not a header at all
  REQUIRE(::pwrite(fd.get(), three.data(), ipc::kPageSize, 0) == static_cast<ssize_t>(ipc::kPageSize));
  CHECK(window.same_layout());
  ::unlink(path);
}
