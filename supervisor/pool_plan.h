// PoolPlan: which pre-spawned runners the supervisor starts. A runner is built before it knows its
// function, so it is built for one VM shape — memory, vCPUs, runtime image (and kernel, for ring-3
// guests) — and may serve only the functions of that shape. Functions are grouped by shape into
// pools; each pool gets a number of runners: as the controller's `pool:` section says, else sized
// from the --mem budget by what the workload asks of that pool (its share of requests x VM size),
// at least one, at most what its functions' concurrency limits can ever use. Pure (tests).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "supervisor/config.h"
#include "supervisor/pool_config.h"
#include "supervisor/workload.h"

namespace snapfaas::supervisor {

/// What a runner is built as. Two functions with equal shapes can use each other's runners.
struct VmShape {
  std::uint32_t memory = 0;  ///< MiB: firerunner --mem_size, and what the VM counts against --mem
  std::uint32_t vcpus = 1;   ///< firerunner --vcpu_count
  std::string runtimefs;     ///< image file name under runtimefs_dir; empty: no rootfs (ring-3 guests)
  std::string kernel;        ///< the function's own kernel (ring-3 guests); empty: the controller's
  bool ring3 = false;

  [[nodiscard]] static VmShape of(const FunctionConfig& f);
  /// "128 MiB, 2 vCPUs, rootfs.ext4" (logs, errors).
  [[nodiscard]] std::string describe() const;
  bool operator==(const VmShape&) const = default;
};

struct PlannedPool {
  VmShape shape;
  std::uint32_t runners = 0;
  std::vector<std::uint32_t> functions;  ///< indices into the function list, ascending
  std::uint64_t requests = 0;            ///< workload requests for these functions
  bool from_config = false;              ///< sized by the `pool:` section
};

struct PoolPlan {
  std::vector<PlannedPool> pools;               ///< in order of first appearance in the function list
  std::vector<std::uint32_t> pool_of_function;  ///< by function index

  [[nodiscard]] std::uint32_t runners() const noexcept;
  /// Runner slots are numbered pool by pool: slot -> pool.
  [[nodiscard]] std::vector<std::uint32_t> pool_of_slot() const;
  /// One line per pool (the supervisor's start-up log).
  [[nodiscard]] std::string describe() const;
};

/// Requests per function in `workload` (by index; names not configured are not counted).
[[nodiscard]] std::vector<std::uint64_t> requests_per_function(const std::vector<FunctionConfig>& functions,
                                                               const std::vector<WorkloadRequest>& workload);

/// Plans the pools. `requests[i]`: how often function i is asked for (all zero or empty: every
/// function counts the same, e.g. HTTP only). `mem_mib`: the --mem budget. `total_runners`: the
/// --runners count to share out (0: size from the budget). `configured`: the `pool:` section; an
/// entry matching no function's shape is an error. Throws common::Error.
[[nodiscard]] PoolPlan plan_pools(const std::vector<FunctionConfig>& functions, const std::vector<std::uint64_t>& requests,
                                  std::uint64_t mem_mib, std::uint32_t total_runners,
                                  const std::vector<PoolRequest>& configured = {});

}  // namespace snapfaas::supervisor
