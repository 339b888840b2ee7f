// LogLimit: a burst, then one line per interval carrying the suppressed count; per call site.
#include "common/log_limit.h"

#include <doctest/doctest.h>

#include <chrono>
#include <thread>
#include <vector>

#include "tests/common/log_capture.h"

using snapfaas::common::LogLimit;

TEST_CASE("a limiter lets the burst through, then one per interval with the count of dropped ones") {
  LogLimit limit;
  std::uint64_t suppressed = 99;
  for (std::uint64_t i = 0; i < LogLimit::kBurst; ++i) {
    CHECK(limit.allow(suppressed));
    CHECK(suppressed == 0);
  }
  int allowed = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 100'000; ++i) allowed += limit.allow(suppressed) ? 1 : 0;
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  // One per started interval at most (the loop may straddle a boundary on a slow machine).
  CHECK(allowed <= 1 + elapsed / LogLimit::kInterval);
  CHECK(limit.count() == LogLimit::kBurst + 100'000);
  std::this_thread::sleep_for(LogLimit::kInterval + std::chrono::milliseconds(20));
  REQUIRE(limit.allow(suppressed));
  CHECK(suppressed + static_cast<std::uint64_t>(allowed) == 100'000);  // every dropped one is reported
}

TEST_CASE("threads hammering one limiter get the burst and at most one line per interval between them") {
  LogLimit limit;
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  const auto t0 = std::chrono::steady_clock::now();
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      std::uint64_t suppressed = 0;
      for (int i = 0; i < 50'000; ++i) allowed.fetch_add(limit.allow(suppressed) ? 1 : 0, std::memory_order_relaxed);
    });
  }
  for (auto& t : threads) t.join();
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  CHECK(allowed.load() >= static_cast<int>(LogLimit::kBurst));
  CHECK(allowed.load() <= static_cast<int>(LogLimit::kBurst) + 1 + static_cast<int>(elapsed / LogLimit::kInterval));
}

TEST_CASE("SNAPFAAS_LIMITED_LOG: each call site has its own budget; a disabled level counts nothing") {
  snapfaas::test::LogCapture capture;
  auto site_a = [](int i) { SNAPFAAS_LIMITED_LOG(spdlog::level::warn, "site a {}", i); };
  auto site_b = [](int i) { SNAPFAAS_LIMITED_LOG(spdlog::level::warn, "site b {}", i); };
  for (int i = 0; i < 1000; ++i) {
    site_a(i);
    site_b(i);
  }
  CHECK(capture.lines_with("site a") >= LogLimit::kBurst);
  CHECK(capture.lines_with("site a") <= LogLimit::kBurst + 2);
  CHECK(capture.lines_with("site b") >= LogLimit::kBurst);
  CHECK(capture.lines_with("site b") <= LogLimit::kBurst + 2);
  CHECK(capture.text().find("site a 0") != std::string::npos);
  spdlog::default_logger()->set_level(spdlog::level::err);
  auto site_c = [](int i) { SNAPFAAS_LIMITED_LOG(spdlog::level::warn, "site c {}", i); };
  for (int i = 0; i < 100; ++i) site_c(i);
  spdlog::default_logger()->set_level(spdlog::level::trace);
  site_c(100);
  CHECK(capture.lines_with("site c 100") == 1);  // the budget was not spent while warn was off
}
