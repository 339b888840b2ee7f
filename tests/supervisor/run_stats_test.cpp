// RunStats: counts stay exact while the records kept are bounded (a long-running service keeps
// the newest record_limit requests and VMs, not one record per request or VM forever); a cold
// request's phases (queue, restore, resume, handler, response) from the loop's, the runner's and
// the guest's marks, each clamped so that hostile or skewed marks cannot make a phase negative or
// the phases overrun the request's latency; and their p50/mean in the summary, with KVM's page
// fault and exit counts.
#include <doctest/doctest.h>

#include "supervisor/run_stats.h"

using namespace snapfaas::supervisor;

namespace {
RequestRecord cold_record(double ready, double handler) {
  RequestRecord r;
  r.status = "ok";
  r.cold = true;
  r.arrival_ms = 10;
  r.dispatch_ms = 12;
  r.loaded_ms = 62;
  r.sent_ms = 62.5;
  r.guest_ready_ms = ready;
  r.handler_ms = handler;
  r.done_ms = 200;
  return r;
}
}  // namespace

TEST_CASE("a cold request's phases add up to its latency") {
  const auto p = cold_record(150, 30).cold_phases_ms();
  REQUIRE(p.has_value());
  CHECK((*p)[0] == doctest::Approx(2));    // queue
  CHECK((*p)[1] == doctest::Approx(50));   // restore
  CHECK((*p)[2] == doctest::Approx(88));   // resume: loaded -> the guest took the request
  CHECK((*p)[3] == doctest::Approx(30));   // handler
  CHECK((*p)[4] == doctest::Approx(20));   // response
  CHECK((*p)[0] + (*p)[1] + (*p)[2] + (*p)[3] + (*p)[4] == doctest::Approx(190));
}

TEST_CASE("marks out of order or beyond the answer are clamped, never negative") {
  // The runner says the guest took it before it was sent; the guest claims a 10 s handler.
  const auto p = cold_record(1, 10'000).cold_phases_ms();
  REQUIRE(p.has_value());
  for (double v : *p) CHECK(v >= 0);
  CHECK((*p)[0] + (*p)[1] + (*p)[2] + (*p)[3] + (*p)[4] == doctest::Approx(190));
  CHECK((*p)[3] == doctest::Approx(200 - 62.5));  // the handler cannot outlast ready -> done
}

TEST_CASE("only successful, fully marked cold requests have phases; the summary gives p50 and mean") {
  RequestRecord warm = cold_record(150, 30);
  warm.cold = false;
  CHECK_FALSE(warm.cold_phases_ms().has_value());
  RequestRecord unmarked = cold_record(-1, 30);  // no runner mark: resume up to the handler, response 0
  REQUIRE(unmarked.cold_phases_ms().has_value());
  CHECK((*unmarked.cold_phases_ms())[2] == doctest::Approx(200 - 30 - 62));
  CHECK((*unmarked.cold_phases_ms())[4] == doctest::Approx(0));
  RequestRecord no_handler = cold_record(150, -1);
  CHECK_FALSE(no_handler.cold_phases_ms().has_value());
  RequestRecord failed = cold_record(150, 30);
  failed.status = "error";
  CHECK_FALSE(failed.cold_phases_ms().has_value());

  RunStats stats;
  stats.add_request(cold_record(150, 30));
  stats.add_request(cold_record(100, 50));
  stats.add_request(cold_record(180, 10));
  stats.add_request(warm);
  stats.add_request(no_handler);
  const nlohmann::json phases = stats.summary()["cold_phases"];
  CHECK(phases["measured"] == 3);
  CHECK(phases["p50_ms"]["resume"].get<double>() == doctest::Approx(88));  // of 38, 88, 118
  CHECK(phases["p50_ms"]["handler"].get<double>() == doctest::Approx(30));
  CHECK(phases["mean_ms"]["queue"].get<double>() == doctest::Approx(2));
}

TEST_CASE("KVM's counts of cold requests: in the records, late ones set by id, p50 and mean over those counted") {
  RunStats stats;
  for (std::uint64_t id = 1; id <= 4; ++id) {
    RequestRecord r = cold_record(150, 30);
    r.id = id;
    if (id != 4) {
      r.page_faults = static_cast<std::int64_t>(id * 1000);
      r.exits = static_cast<std::int64_t>(id * 1000 + 50);
    }
    stats.add_request(r);
  }
  RequestRecord warm;
  warm.id = 5;
  warm.status = "ok";
  warm.page_faults = 99'999;  // not a cold request: never counted
  stats.add_request(warm);
  CHECK(stats.summary()["cold_phases"]["page_faults"]["counted"] == 3);
  CHECK(stats.set_counts(4, 10'000, 10'100));  // came after the response
  CHECK_FALSE(stats.set_counts(77, 1, 1));     // no such record
  const nlohmann::json c = stats.summary()["cold_phases"];
  CHECK(c["page_faults"]["counted"] == 4);
  CHECK(c["page_faults"]["p50"] == 2000);  // of 1000, 2000, 3000, 10000
  CHECK(c["page_faults"]["mean"].get<double>() == doctest::Approx(4000));
  CHECK(c["exits"]["p50"] == 2050);
  const nlohmann::json full = stats.full();
  CHECK(full["request_timestamps"][3]["page_faults"] == 10'000);
  CHECK(full["request_timestamps"][3]["exits"] == 10'100);
  CHECK_FALSE(full["request_timestamps"][4].contains("page_faults"));  // warm: no cold marks
}

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

TEST_CASE("a result line gives a successful cold request's restore generation, and only that one's") {
  RequestRecord cold = cold_record(150, 30);
  cold.response = "{}";
  cold.restore_generation = 1;
  CHECK(to_json(cold)["restore_generation"] == 1);
  cold.restore_generation = 0;  // a boot, or a guest that did not say
  CHECK(to_json(cold)["restore_generation"] == 0);
  RequestRecord warm = cold;
  warm.cold = false;
  CHECK_FALSE(to_json(warm).contains("restore_generation"));
  RequestRecord failed = cold;
  failed.status = "error";
  CHECK_FALSE(to_json(failed).contains("restore_generation"));
}
