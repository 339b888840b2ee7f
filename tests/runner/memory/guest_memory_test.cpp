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

TEST_CASE("the write log records the pages the VMM writes, page-aligned, and clears on take") {
  GuestMemory mem;
  mem.add_region(0, MmapRegion::anonymous(0x10000));
  mem.add_region(0x100000, MmapRegion::anonymous(0x4000));
  REQUIRE(mem.write_obj<std::uint8_t>(0x10, 1));  // before the log: not recorded
  CHECK(mem.take_written().empty());

  mem.enable_write_log();
  REQUIRE(mem.write_obj<std::uint32_t>(0x2ffe, 7));       // one write straddling pages 2 and 3
  mem.mark_written(0x100fff, 2);                          // a slice written by a device: pages 0, 1
  mem.mark_written(0x5000, 0);                            // empty: nothing
  mem.mark_written(0x20000, 0x1000);                      // outside every region: ignored
  CHECK_FALSE(mem.write_obj<std::uint64_t>(0xfffc, 1));   // refused write: not recorded
  const auto written = mem.take_written();
  REQUIRE(written.size() == 2);
  CHECK(written[0].gpa == 0x2000);
  CHECK(written[0].length == 0x2000);
  CHECK(written[1].gpa == 0x100000);
  CHECK(written[1].length == 0x2000);
  CHECK(mem.take_written().empty());  // cleared
}
