// RunStats: counts stay exact while the records kept are bounded (a long-running service keeps
// the newest record_limit requests and VMs, not one record per request or VM forever).
#include <doctest/doctest.h>

#include "supervisor/run_stats.h"

using snapfaas::supervisor::RequestRecord;
using snapfaas::supervisor::RunStats;
using snapfaas::supervisor::VmRecord;

TEST_CASE("RunStats keeps the newest record_limit requests and VMs; the counts stay exact") {
  RunStats stats;
  stats.set_record_limit(3);
  for (std::uint32_t i = 0; i < 10; ++i) {
    stats.add_vm(VmRecord{i, "f", 128, i % 5 == 0 ? "boot" : "restore", double(i), double(i) + 1});
    RequestRecord r;
    r.id = i;
    r.function = "f";
    r.status = i == 4 ? "error" : "ok";
    r.cold = i < 2;
    r.done_ms = i;
    stats.add_request(std::move(r));
  }
  CHECK(stats.vms().size() == 3);
  CHECK(stats.vms().front().runner == 7);  // the newest three: 7, 8, 9
  CHECK(stats.requests().size() == 3);
  const auto summary = stats.summary();
  CHECK(summary["vms_created"] == 10);
  CHECK(summary["boots"] == 2);  // 0 and 5
  CHECK(summary["restores"] == 8);
  CHECK(summary["completed"] == 9);
  CHECK(summary["errors"] == 1);
  CHECK(summary["cold"] == 2);
  const auto full = stats.full();
  CHECK(full["vm_records_dropped"] == 7);
  CHECK(full["request_records_dropped"] == 7);
  CHECK(full["boot_timestamps"].size() == 3);
}

TEST_CASE("RunStats without a limit keeps every record") {
  RunStats stats;
  for (std::uint32_t i = 0; i < 50; ++i) stats.add_vm(VmRecord{i, "f", 128, "restore", 0, 1});
  CHECK(stats.vms().size() == 50);
  CHECK(stats.full()["vm_records_dropped"] == 0);
}
