// handle_exit against fake kvm_run structs: every exit reason, every I/O width, malformed runs.
#include "runner/vcpu/exit_handler.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

using namespace snapfaas::runner;

namespace {
constexpr std::size_t kRunSize = 3 * 4096;
constexpr std::uint64_t kPioOffset = 4096;

struct Recorder : BusDevice {
  std::vector<std::pair<std::uint64_t, std::vector<std::uint8_t>>> writes;
  std::uint8_t fill = 0x42;
  void read(std::uint64_t, std::span<std::uint8_t> data) noexcept override {
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(fill + i);
  }
  void write(std::uint64_t offset, std::span<const std::uint8_t> data) noexcept override {
    writes.emplace_back(offset, std::vector<std::uint8_t>(data.begin(), data.end()));
  }
};

struct FakeRun {
  struct Free {
    void operator()(void* p) const noexcept { std::free(p); }
  };
  std::unique_ptr<void, Free> mem{std::aligned_alloc(4096, kRunSize)};
  FakeRun() { std::memset(mem.get(), 0, kRunSize); }
  kvm_run& run() { return *static_cast<kvm_run*>(mem.get()); }
  std::uint8_t* bytes() { return static_cast<std::uint8_t*>(mem.get()); }
};

struct Fixture {
  Bus pio;
  Bus mmio;
  std::shared_ptr<Recorder> port = std::make_shared<Recorder>();
  std::shared_ptr<Recorder> window = std::make_shared<Recorder>();
  FakeRun fake;
  Fixture() {
    pio.insert(port, 0x3f8, 8);
    mmio.insert(window, 0xd0000000, 0x1000);
  }
  ExitContext ctx() { return ExitContext{pio, mmio, [] { return std::uint64_t{0x1234}; }}; }
  void io(std::uint8_t dir, std::uint16_t port_nr, std::uint8_t size, std::uint32_t count = 1,
          std::uint64_t offset = kPioOffset) {
    auto& r = fake.run();
    r.exit_reason = KVM_EXIT_IO;
    r.io.direction = dir;
    r.io.port = port_nr;
    r.io.size = size;
    r.io.count = count;
    r.io.data_offset = offset;
  }
};
}  // namespace

TEST_CASE("port I/O out of 1, 2 and 4 bytes reaches the device at its offset") {
  for (std::uint8_t size : {1, 2, 4}) {
    Fixture f;
    f.io(KVM_EXIT_IO_OUT, 0x3f9, size);
    for (std::uint8_t i = 0; i < size; ++i) f.fake.bytes()[kPioOffset + i] = static_cast<std::uint8_t>(0xa0 + i);
    const ExitResult r = handle_exit(f.fake.run(), kRunSize, f.ctx());
    CHECK(r.action == ExitAction::kContinue);
    REQUIRE(f.port->writes.size() == 1);
    CHECK(f.port->writes[0].first == 1);
    REQUIRE(f.port->writes[0].second.size() == size);
    CHECK(f.port->writes[0].second[size - 1] == 0xa0 + size - 1);
  }
}

TEST_CASE("port I/O in of 1, 2 and 4 bytes is answered by the device") {
  for (std::uint8_t size : {1, 2, 4}) {
    Fixture f;
    f.io(KVM_EXIT_IO_IN, 0x3f8, size);
    CHECK(handle_exit(f.fake.run(), kRunSize, f.ctx()).action == ExitAction::kContinue);
    for (std::uint8_t i = 0; i < size; ++i) CHECK(f.fake.bytes()[kPioOffset + i] == 0x42 + i);
  }
}

TEST_CASE("rep outs: every element is dispatched") {
  Fixture f;
  f.io(KVM_EXIT_IO_OUT, 0x3f8, 1, 5);
  CHECK(handle_exit(f.fake.run(), kRunSize, f.ctx()).action == ExitAction::kContinue);
  CHECK(f.port->writes.size() == 5);
}

TEST_CASE("unclaimed port reads all-ones and the VM continues") {
  Fixture f;
  f.io(KVM_EXIT_IO_IN, 0x80, 4);
  CHECK(handle_exit(f.fake.run(), kRunSize, f.ctx()).action == ExitAction::kContinue);
  for (int i = 0; i < 4; ++i) CHECK(f.fake.bytes()[kPioOffset + i] == 0xff);
}

TEST_CASE("malformed port I/O exits are errors, not host accesses") {
  Fixture f;
  SUBCASE("data_offset past the mapping") { f.io(KVM_EXIT_IO_OUT, 0x3f8, 4, 1, kRunSize); }
  SUBCASE("data_offset inside kvm_run itself") { f.io(KVM_EXIT_IO_IN, 0x3f8, 4, 1, 0); }
  SUBCASE("huge count") { f.io(KVM_EXIT_IO_OUT, 0x3f8, 4, 0xffffffffu); }
  SUBCASE("count overflowing the end") { f.io(KVM_EXIT_IO_OUT, 0x3f8, 4, 2, kRunSize - 4); }
  SUBCASE("bad size 3") { f.io(KVM_EXIT_IO_OUT, 0x3f8, 3); }
  SUBCASE("bad size 8") { f.io(KVM_EXIT_IO_IN, 0x3f8, 8); }
  SUBCASE("count 0") { f.io(KVM_EXIT_IO_IN, 0x3f8, 1, 0); }
  SUBCASE("offset near 2^64") { f.io(KVM_EXIT_IO_IN, 0x3f8, 4, 1, ~0ull - 1); }
  const ExitResult r = handle_exit(f.fake.run(), kRunSize, f.ctx());
  CHECK(r.action == ExitAction::kError);
  CHECK(r.message.find("KVM_EXIT_IO") != std::string::npos);
  CHECK(r.message.find("RIP 0x1234") != std::string::npos);
  CHECK(f.port->writes.empty());
}

TEST_CASE("MMIO write is recorded and MMIO read answered, 1..8 bytes") {
  for (std::uint32_t len : {1u, 2u, 4u, 8u}) {
    Fixture f;
    auto& r = f.fake.run();
    r.exit_reason = KVM_EXIT_MMIO;
    r.mmio.phys_addr = 0xd0000010;
    r.mmio.len = len;
    r.mmio.is_write = 1;
    std::memset(r.mmio.data, 0x77, sizeof r.mmio.data);
    CHECK(handle_exit(r, kRunSize, f.ctx()).action == ExitAction::kContinue);
    REQUIRE(f.window->writes.size() == 1);
    CHECK(f.window->writes[0].first == 0x10);
    CHECK(f.window->writes[0].second.size() == len);

    r.mmio.is_write = 0;
    std::memset(r.mmio.data, 0, sizeof r.mmio.data);
    CHECK(handle_exit(r, kRunSize, f.ctx()).action == ExitAction::kContinue);
    CHECK(r.mmio.data[0] == 0x42);
    CHECK(r.mmio.data[len - 1] == 0x42 + len - 1);
  }
}

TEST_CASE("MMIO to no device: reads all-ones; bad length is an error") {
  Fixture f;
  auto& r = f.fake.run();
  r.exit_reason = KVM_EXIT_MMIO;
  r.mmio.phys_addr = 0xe0000000;
  r.mmio.len = 4;
  r.mmio.is_write = 0;
  CHECK(handle_exit(r, kRunSize, f.ctx()).action == ExitAction::kContinue);
  CHECK(r.mmio.data[3] == 0xff);
  r.mmio.len = 9;
  CHECK(handle_exit(r, kRunSize, f.ctx()).action == ExitAction::kError);
  r.mmio.len = 0;
  CHECK(handle_exit(r, kRunSize, f.ctx()).action == ExitAction::kError);
}

TEST_CASE("terminal and failure exits name the reason and RIP") {
  Fixture f;
  auto& r = f.fake.run();
  r.exit_reason = KVM_EXIT_HLT;
  CHECK(handle_exit(r, kRunSize, f.ctx()).action == ExitAction::kHalt);

  r.exit_reason = KVM_EXIT_SHUTDOWN;
  ExitResult res = handle_exit(r, kRunSize, f.ctx());
  CHECK(res.action == ExitAction::kShutdown);
  CHECK(res.message.find("KVM_EXIT_SHUTDOWN") != std::string::npos);

  r.exit_reason = KVM_EXIT_FAIL_ENTRY;
  r.fail_entry.hardware_entry_failure_reason = 0x21;
  res = handle_exit(r, kRunSize, f.ctx());
  CHECK(res.action == ExitAction::kError);
  CHECK(res.message == "KVM_EXIT_FAIL_ENTRY (hardware reason 0x21) at RIP 0x1234");

  r.exit_reason = KVM_EXIT_INTERNAL_ERROR;
  r.internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
  res = handle_exit(r, kRunSize, f.ctx());
  CHECK(res.action == ExitAction::kError);
  CHECK(res.message.find("KVM_EXIT_INTERNAL_ERROR (suberror 1)") == 0);

  r.exit_reason = 9999;
  res = handle_exit(r, kRunSize, f.ctx());
  CHECK(res.action == ExitAction::kError);
  CHECK(res.message == "unknown exit reason 9999 at RIP 0x1234");

  r.exit_reason = KVM_EXIT_DEBUG;
  CHECK(handle_exit(r, kRunSize, f.ctx()).message == "KVM_EXIT_DEBUG at RIP 0x1234");
}

TEST_CASE("system events: shutdown and reset end the VM, others are errors") {
  Fixture f;
  auto& r = f.fake.run();
  r.exit_reason = KVM_EXIT_SYSTEM_EVENT;
  r.system_event.type = KVM_SYSTEM_EVENT_RESET;
  CHECK(handle_exit(r, kRunSize, f.ctx()).action == ExitAction::kReset);
  r.system_event.type = KVM_SYSTEM_EVENT_SHUTDOWN;
  CHECK(handle_exit(r, kRunSize, f.ctx()).action == ExitAction::kShutdown);
  r.system_event.type = 77;
  CHECK(handle_exit(r, kRunSize, f.ctx()).action == ExitAction::kError);
}

TEST_CASE("a RIP reader that throws still gives an error message") {
  Fixture f;
  auto& r = f.fake.run();
  r.exit_reason = KVM_EXIT_EXCEPTION;
  const ExitContext ctx{f.pio, f.mmio, []() -> std::uint64_t { throw std::runtime_error("no regs"); }};
  const ExitResult res = handle_exit(r, kRunSize, ctx);
  CHECK(res.action == ExitAction::kError);
  CHECK(res.message == "KVM_EXIT_EXCEPTION at RIP unknown");
}
