// WindowPorts as a device, in process (no VM): what a guest writing its doorbells costs the host's
// log. A guest may write SNAPSHOT_POINT or odd widths as often as it likes; the lines it causes are
// rate-limited per call site (common/log_limit.h).
#include "runner/window/window_ports.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <string>

#include "common/log_limit.h"
#include "ipc/channel.h"
#include "ipc/guest_abi.h"
#include "tests/common/log_capture.h"

namespace {

using namespace snapfaas;

void out32(runner::window::WindowPorts& ports, std::uint16_t port, std::uint32_t value) {
  std::array<std::uint8_t, 4> b{};
  std::memcpy(b.data(), &value, 4);
  ports.write(port - ipc::kPortFirst, b);
}

}  // namespace

TEST_CASE("a guest writing SNAPSHOT_POINT or odd port widths 10^4 times costs a burst of log lines") {
  const std::string name = "/snapfaas-ports-test-" + std::to_string(::getpid());
  auto supervisor = ipc::SupervisorChannel::create(name, {.slot_size = 4096, .slot_count = 2});
  auto channel = ipc::RunnerChannel::open(name);
  int points = 0;
  runner::window::WindowHooks hooks;
  hooks.stop = [](int, const std::string&) {};
  hooks.on_snapshot_point = [&points](std::uint32_t) { ++points; };
  runner::window::WindowPorts ports(channel, std::move(hooks), std::chrono::steady_clock::now());
  test::LogCapture capture;
  for (int i = 0; i < 10'000; ++i) {
    out32(ports, ipc::kPortSnapshotPoint, 1 + static_cast<std::uint32_t>(i % 3));
    const std::array<std::uint8_t, 2> odd{};
    ports.write(ipc::kPortResponseReady - ipc::kPortFirst, odd);
  }
  CHECK(points == 10'000);  // every point reaches the snapshot hook; only the log is limited
  INFO(capture.text().substr(0, 2000));
  constexpr std::size_t kMost = common::LogLimit::kBurst + 2;
  CHECK(capture.lines_with("snapshot point") >= 1);
  CHECK(capture.lines_with("snapshot point") <= kMost);
  CHECK(capture.lines_with("ignored guest write") <= kMost);
}
