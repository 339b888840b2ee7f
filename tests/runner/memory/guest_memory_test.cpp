// GuestMemory rejects every range not wholly inside one region.
#include "runner/memory/guest_memory.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>

#include "common/error.h"

using snapfaas::runner::GuestMemory;
using snapfaas::runner::MmapRegion;

TEST_CASE("GuestMemory translates in-range addresses and rejects the rest") {
  GuestMemory mem;
  mem.add_region(0, MmapRegion::anonymous(0x10000));
  mem.add_region(0x100000, MmapRegion::anonymous(0x1000));

  REQUIRE(mem.write_obj<std::uint32_t>(0xfffc, 0xdeadbeef));
  CHECK(mem.read_obj<std::uint32_t>(0xfffc) == 0xdeadbeefu);
  CHECK(mem.slice(0x100000, 0x1000).has_value());

  CHECK_FALSE(mem.slice(0xfffe, 4).has_value());       // crosses the end of region 0
  CHECK_FALSE(mem.slice(0x10000, 1).has_value());      // in the hole
  CHECK_FALSE(mem.slice(0x100fff, 2).has_value());     // crosses the end of region 1
  CHECK_FALSE(mem.slice(0x100000, std::numeric_limits<std::uint64_t>::max()).has_value());
  CHECK_FALSE(mem.slice(std::numeric_limits<std::uint64_t>::max(), 2).has_value());
  CHECK_FALSE(mem.read_obj<std::uint64_t>(0xfffc).has_value());
  CHECK_FALSE(mem.write_obj<std::uint64_t>(0xfffc, 1));
  CHECK(mem.read_obj<std::uint32_t>(0xfffc) == 0xdeadbeefu);  // failed write changed nothing
}

TEST_CASE("GuestMemory refuses overlapping regions") {
  GuestMemory mem;
  mem.add_region(0x1000, MmapRegion::anonymous(0x2000));
  CHECK_THROWS_AS(mem.add_region(0x2000, MmapRegion::anonymous(0x1000)), snapfaas::common::Error);
  CHECK_THROWS_AS(mem.add_region(0, MmapRegion::anonymous(0x2000)), snapfaas::common::Error);
  CHECK_NOTHROW(mem.add_region(0x3000, MmapRegion::anonymous(0x1000)));
  CHECK(mem.regions().size() == 2);
}
