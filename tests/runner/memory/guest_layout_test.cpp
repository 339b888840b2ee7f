// RAM ranges around the 32-bit MMIO gap.
#include "runner/memory/guest_layout.h"

#include <doctest/doctest.h>

#include "common/error.h"

using namespace snapfaas::runner;

TEST_CASE("RAM below 3 GiB is one range; larger RAM continues at 4 GiB") {
  constexpr std::uint64_t kGiB = 1ull << 30;
  CHECK(ram_ranges(128 << 20) == std::vector<RamRange>{{0, 128 << 20}});
  CHECK(ram_ranges(3 * kGiB) == std::vector<RamRange>{{0, 3 * kGiB}});
  CHECK(ram_ranges(3 * kGiB + 4096) == std::vector<RamRange>{{0, 3 * kGiB}, {4 * kGiB, 4096}});
  CHECK(ram_ranges(8 * kGiB) == std::vector<RamRange>{{0, 3 * kGiB}, {4 * kGiB, 5 * kGiB}});
  CHECK_THROWS_AS(ram_ranges(0), snapfaas::common::Error);
  CHECK_THROWS_AS(ram_ranges(4097), snapfaas::common::Error);
}

TEST_CASE("create_guest_ram registers each range, nothing in the gap") {
  const GuestMemory mem = create_guest_ram((3ull << 30) + (1 << 20));
  REQUIRE(mem.regions().size() == 2);
  CHECK(mem.slice(0xbffff000, 0x1000).has_value());
  CHECK_FALSE(mem.slice(0xd0000000, 4).has_value());
  CHECK(mem.slice(1ull << 32, 1 << 20).has_value());
  CHECK_FALSE(mem.slice((1ull << 32) + (1 << 20), 1).has_value());
}
