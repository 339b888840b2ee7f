// RunnerCgroups where there is no usable cgroup v2 hierarchy (this project's machines have cgroup v1
// only): the jailer must start runners without a cgroup rather than fail, and leave nothing behind.
// The v2 path itself (clone3 into the leaf, memory.max, pids.max) is tested in the emulated KVM
// host, whose kernel has cgroup v2: e2e_supervisor_net's isolation samples.
#include "supervisor/runner_cgroups.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
using namespace snapfaas::supervisor;

namespace {

// This process's cgroup v2 path ("0::" line of /proc/self/cgroup), "" for the root or none.
std::string own_cgroup() {
  std::ifstream in("/proc/self/cgroup");
  std::string own;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("0::", 0) == 0) own = line.substr(3);
  }
  return own == "/" ? std::string() : own;
}

}  // namespace

TEST_CASE("runner cgroups: no cgroup v2 hierarchy -> disabled, no leaf, nothing created") {
  const fs::path root = fs::temp_directory_path() / ("snapfaas-cg-none-" + std::to_string(::getpid()));
  fs::create_directories(root);
  {
    RunnerCgroups cgroups(CgroupLimits{256ULL << 20, 64, 0}, root.string());
    CHECK_FALSE(cgroups.enabled());
    CHECK(cgroups.dir().empty());
    CHECK_FALSE(cgroups.leaf(0));
    CHECK_FALSE(cgroups.leaf(3));
  }
  CHECK(fs::is_empty(root));
  fs::remove_all(root);
}

TEST_CASE("runner cgroups: a hierarchy without memory and pids, or that refuses controllers -> disabled") {
  const fs::path root = fs::temp_directory_path() / ("snapfaas-cg-fake-" + std::to_string(::getpid()));
  const fs::path base = root.string() + own_cgroup();
  fs::create_directories(base);
  std::ofstream(root / "cgroup.controllers") << "cpuset cpu io memory pids\n";
  SUBCASE("its own cgroup offers no memory controller") {
    std::ofstream(base / "cgroup.controllers", std::ios::trunc) << "cpu io pids\n";
    RunnerCgroups cgroups(CgroupLimits{256ULL << 20, 64, 0}, root.string());
    CHECK_FALSE(cgroups.enabled());
    CHECK_FALSE(cgroups.leaf(0));
  }
  SUBCASE("the controllers are offered but cannot be enabled (not a cgroup filesystem)") {
    std::ofstream(base / "cgroup.controllers", std::ios::trunc) << "cpu io memory pids\n";
    RunnerCgroups cgroups(CgroupLimits{256ULL << 20, 64, 0}, root.string());
    CHECK_FALSE(cgroups.enabled());
    CHECK_FALSE(cgroups.leaf(0));
    CHECK_FALSE(fs::exists(base / ("snapfaas-" + std::to_string(::getpid()))));
  }
  fs::remove_all(root);
}

TEST_CASE("runner cgroups: a cgroup v1 host (as this project's machines) is detected as such") {
  if (fs::exists("/sys/fs/cgroup/cgroup.controllers")) return;  // a v2 host: the e2e test covers it
  const RunnerCgroups cgroups(CgroupLimits{256ULL << 20, 64, 0});
  CHECK_FALSE(cgroups.enabled());
}
