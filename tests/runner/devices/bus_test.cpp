// Bus dispatches accesses to the device that wholly covers them, with device-relative offsets.
#include "runner/devices/bus.h"

#include <doctest/doctest.h>

#include <array>
#include <vector>

#include "common/error.h"

using snapfaas::runner::Bus;
using snapfaas::runner::BusDevice;

namespace {
struct Recorder : BusDevice {
  std::vector<std::uint64_t> reads, writes;
  void read(std::uint64_t offset, std::span<std::uint8_t> data) noexcept override {
    reads.push_back(offset);
    for (auto& b : data) b = 0x5a;
  }
  void write(std::uint64_t offset, std::span<const std::uint8_t>) noexcept override { writes.push_back(offset); }
};
}  // namespace

TEST_CASE("Bus routes by range with relative offsets") {
  Bus bus;
  auto serial = std::make_shared<Recorder>();
  auto other = std::make_shared<Recorder>();
  bus.insert(serial, 0x3f8, 8);
  bus.insert(other, 0x400, 0x10);
  std::array<std::uint8_t, 1> b{};
  CHECK(bus.read(0x3f9, b));
  CHECK(b[0] == 0x5a);
  CHECK(bus.write(0x3ff, b));
  CHECK(serial->reads == std::vector<std::uint64_t>{1});
  CHECK(serial->writes == std::vector<std::uint64_t>{7});
  std::array<std::uint8_t, 2> w{};
  CHECK_FALSE(bus.read(0x3ff, w));  // straddles the end of the serial range
  CHECK_FALSE(bus.write(0x300, b));  // nobody there
  CHECK(bus.write(0x40f, b));
  CHECK(other->writes == std::vector<std::uint64_t>{0xf});
  CHECK_THROWS_AS(bus.insert(other, 0x3fc, 8), snapfaas::common::Error);
}

TEST_CASE("Bus::replace swaps the device of an exact range, inserts into a free one, refuses overlaps") {
  Bus bus;
  auto first = std::make_shared<Recorder>();
  auto second = std::make_shared<Recorder>();
  auto third = std::make_shared<Recorder>();
  bus.insert(first, 0x1000, 0x100);
  std::array<std::uint8_t, 1> b{};
  bus.replace(second, 0x1000, 0x100);
  CHECK(bus.write(0x1010, b));
  CHECK(first->writes.empty());
  CHECK(second->writes == std::vector<std::uint64_t>{0x10});
  bus.replace(third, 0x2000, 0x100);  // free range: inserted
  CHECK(bus.write(0x2001, b));
  CHECK(third->writes == std::vector<std::uint64_t>{1});
  CHECK_THROWS_AS(bus.replace(first, 0x1080, 0x100), snapfaas::common::Error);  // partial overlap
  CHECK(bus.write(0x1090, b));
  CHECK(second->writes.size() == 2);  // the refused replace changed nothing
}
