// Tests of supervisor/pool_plan and pool_config: functions grouped by VM shape (memory, vCPUs,
// runtime image, kernel), each pool sized from --mem by its share of the workload (requests x VM
// size), capped by its functions' concurrency limits, at least one runner; --runners shared out by
// VM count; the controller's `pool:` section taking precedence; bad `pool:` entries refused.
#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

#include "common/error.h"
#include "supervisor/config.h"
#include "supervisor/pool_plan.h"

using namespace snapfaas::supervisor;

namespace {

FunctionConfig fn(std::string name, std::uint32_t memory, std::uint32_t vcpus, std::string runtimefs,
                  std::uint32_t limit = 100, std::string load_dir = "") {
  FunctionConfig f;
  f.name = std::move(name);
  f.memory = memory;
  f.vcpus = vcpus;
  f.runtimefs = std::move(runtimefs);
  f.concurrency_limit = limit;
  f.load_dir = std::move(load_dir);
  return f;
}

std::uint64_t memory_of(const PoolPlan& plan) {
  std::uint64_t mib = 0;
  for (const PlannedPool& p : plan.pools) mib += std::uint64_t{p.runners} * p.shape.memory;
  return mib;
}

}  // namespace

TEST_CASE("functions of one shape share a pool; memory, vCPUs and runtime image each make a new one") {
  const std::vector<FunctionConfig> functions{fn("a", 128, 1, "rootfs.ext4"), fn("b", 128, 1, "rootfs.ext4"),
                                              fn("c", 256, 1, "rootfs.ext4"), fn("d", 128, 2, "rootfs.ext4"),
                                              fn("e", 128, 1, "nodejs.ext4")};
  const PoolPlan plan = plan_pools(functions, {}, 4096, 0);
  REQUIRE(plan.pools.size() == 4);
  CHECK(plan.pool_of_function == std::vector<std::uint32_t>{0, 0, 1, 2, 3});
  CHECK(plan.pools[0].functions == std::vector<std::uint32_t>{0, 1});
  CHECK(plan.pools[1].shape == VmShape{256, 1, "rootfs.ext4", "", false});
  CHECK(plan.pools[2].shape.vcpus == 2);
  CHECK(plan.pools[3].shape.runtimefs == "nodejs.ext4");
  CHECK(plan.pools[2].shape.describe() == "128 MiB, 2 vCPUs, rootfs.ext4");
  // Slots numbered pool by pool.
  const std::vector<std::uint32_t> slots = plan.pool_of_slot();
  REQUIRE(slots.size() == plan.runners());
  CHECK(std::is_sorted(slots.begin(), slots.end()));
  for (std::uint32_t p = 0; p < plan.pools.size(); ++p) {
    CHECK(std::count(slots.begin(), slots.end(), p) == plan.pools[p].runners);
  }
}

TEST_CASE("sized from --mem by the workload: each pool's share of requests x VM size, the whole budget used") {
  // 3/4 of the requests go to the 128 MiB python pool, 1/4 to the 256 MiB node pool: weights 384 : 256.
  const std::vector<FunctionConfig> functions{fn("py", 128, 1, "rootfs.ext4"), fn("js", 256, 1, "nodejs.ext4")};
  const PoolPlan plan = plan_pools(functions, {300, 100}, 2560, 0);
  REQUIRE(plan.pools.size() == 2);
  CHECK(plan.pools[0].requests == 300);
  CHECK(plan.pools[0].runners == 12);  // 2560 * 384/640 / 128
  CHECK(plan.pools[1].runners == 4);   // 2560 * 256/640 / 256
  CHECK(memory_of(plan) == 2560);      // the budget counts each VM's own size
  CHECK(plan.runners() == 16);
}

TEST_CASE("a pool the workload never asks for gets one runner; what a cap leaves goes to the pools asked for") {
  const std::vector<FunctionConfig> functions{fn("busy", 128, 1, "rootfs.ext4"), fn("http-only", 128, 2, "rootfs.ext4"),
                                              fn("capped", 256, 1, "nodejs.ext4", 2)};
  const PoolPlan plan = plan_pools(functions, {100, 0, 100}, 2048, 0);
  REQUIRE(plan.pools.size() == 3);
  CHECK(plan.pools[1].runners == 1);
  CHECK(plan.pools[2].runners == 2);  // concurrency_limit 2: a third runner could never be used
  CHECK(plan.pools[0].runners == (2048 - 128 - 512) / 128);
  CHECK(memory_of(plan) <= 2048);
}

TEST_CASE("without a workload every function counts the same; a budget smaller than the pools still gives one each") {
  const std::vector<FunctionConfig> functions{fn("a", 128, 1, "rootfs.ext4"), fn("b", 128, 1, "rootfs.ext4"),
                                              fn("c", 128, 1, "nodejs.ext4")};
  PoolPlan plan = plan_pools(functions, {}, 1536, 0);
  CHECK(plan.pools[0].runners == 8);  // two functions: twice the share
  CHECK(plan.pools[1].runners == 4);
  plan = plan_pools(functions, {}, 128, 0);
  CHECK(plan.pools[0].runners == 1);
  CHECK(plan.pools[1].runners == 1);
}

TEST_CASE("--runners N is shared out by VM count, concurrency limits aside") {
  const std::vector<FunctionConfig> functions{fn("py", 128, 1, "rootfs.ext4", 1), fn("js", 512, 1, "nodejs.ext4", 1)};
  const PoolPlan plan = plan_pools(functions, {30, 10}, 64, 8);
  CHECK(plan.pools[0].runners == 6);
  CHECK(plan.pools[1].runners == 2);
  CHECK(plan_pools(functions, {30, 10}, 64, 1).runners() == 2);  // never fewer than one per pool
}

TEST_CASE("the pool: section sizes its shapes; the others share what is left of --mem") {
  const std::vector<FunctionConfig> functions{fn("py", 128, 1, "rootfs.ext4"), fn("two", 128, 2, "rootfs.ext4"),
                                              fn("js", 256, 1, "nodejs.ext4")};
  const std::vector<PoolRequest> pools{{128, 2, "rootfs.ext4", 3, 7}};
  const PoolPlan plan = plan_pools(functions, {100, 100, 100}, 2048, 0, pools);
  CHECK(plan.pools[1].runners == 3);
  CHECK(plan.pools[1].from_config);
  CHECK(memory_of(plan) <= 2048);
  CHECK(plan.pools[0].runners * 128 + plan.pools[2].runners * 256 >= 2048 - 3 * 128 - 256);
  CHECK(plan.describe().find("3 x (128 MiB, 2 vCPUs, rootfs.ext4) for 1 function [pool:]") != std::string::npos);
  // An entry no function has the shape of: refused, naming its line.
  CHECK_THROWS_WITH_AS(plan_pools(functions, {}, 2048, 0, {{64, 1, "rootfs.ext4", 2, 9}}),
                       doctest::Contains("line 9"), snapfaas::common::Error);
}

TEST_CASE("ring-3 functions: the kernel is part of the shape, no runtime image") {
  const auto ring3 = [](std::string name, std::string kernel) {
    FunctionConfig f = fn(std::move(name), 16, 1, "");
    f.kernel = std::move(kernel);
    f.ring3 = true;
    return f;
  };
  const FunctionConfig a = ring3("a", "/g1.elf"), b = ring3("b", "/g2.elf");
  const PoolPlan plan = plan_pools({a, b}, {}, 64, 0);
  REQUIRE(plan.pools.size() == 2);
  CHECK(plan.pools[0].shape.kernel == "/g1.elf");
  CHECK(plan.pools[1].shape.ring3);
}

TEST_CASE("controller pool: section parsed; bad entries refused with their line") {
  const ControllerConfig c = parse_controller_config(
      "kernel_path: k\nfunction_config: f\nfirerunner_path: r\npool:\n  - {memory: 128, runners: 4}\n"
      "  - memory: 256\n    vcpus: 2\n    runtimefs: nodejs.ext4\n    runners: 1\n",
      "c.yaml");
  REQUIRE(c.pools.size() == 2);
  CHECK(c.pools[0] == PoolRequest{128, 1, "", 4, 5});
  CHECK(c.pools[1] == PoolRequest{256, 2, "nodejs.ext4", 1, 6});
  const std::string head = "kernel_path: k\nfunction_config: f\nfirerunner_path: r\n";
  CHECK_THROWS_WITH_AS(parse_controller_config(head + "pool: 3\n", "c.yaml"), doctest::Contains("c.yaml:4: field 'pool'"),
                       snapfaas::common::Error);
  CHECK_THROWS_WITH_AS(parse_controller_config(head + "pool:\n  - {memory: 128}\n", "c.yaml"),
                       doctest::Contains("c.yaml:5: pool: each entry needs 'memory' and 'runners'"), snapfaas::common::Error);
  CHECK_THROWS_WITH_AS(parse_controller_config(head + "pool:\n  - {memory: 128, runners: 0}\n", "c.yaml"),
                       doctest::Contains("'runners' must be a positive integer"), snapfaas::common::Error);
  CHECK_THROWS_WITH_AS(parse_controller_config(head + "pool:\n  - {memory: 128, runers: 2}\n", "c.yaml"),
                       doctest::Contains("unknown key 'runers'"), snapfaas::common::Error);
  CHECK_THROWS_WITH_AS(parse_controller_config(head + "pool:\n  - {memory: 128, runners: 2}\n  - {memory: 128, runners: 1}\n",
                                               "c.yaml"),
                       doctest::Contains("listed twice"), snapfaas::common::Error);
}

TEST_CASE("requests_per_function counts the workload's requests by function, unknown names aside") {
  const std::vector<FunctionConfig> functions{fn("a", 128, 1, "r"), fn("b", 128, 1, "r")};
  std::vector<WorkloadRequest> workload;
  for (const std::string name : {"b", "b", "b", "a", "nope"}) {
    WorkloadRequest r;
    r.function = name;
    workload.push_back(std::move(r));
  }
  CHECK(requests_per_function(functions, workload) == std::vector<std::uint64_t>{1, 3});
}
