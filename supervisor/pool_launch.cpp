// Each pool's runner command line, function table and jail contents (see pool_launch.h).
#include "supervisor/pool_launch.h"

#include <algorithm>

#include "supervisor/config_paths.h"
#include "supervisor/jail_contents.h"

namespace snapfaas::supervisor {

common::RunnerCommand pool_command(const ControllerConfig& controller, const VmShape& shape,
                                   const common::RunnerCommand& common, const std::string& table_path) {
  common::RunnerCommand c = common;
  c.kernel = shape.kernel.empty() ? controller.kernel_path : shape.kernel;
  c.ring3 = shape.ring3;
  c.mem_mib = shape.memory;
  c.vcpu_count = shape.vcpus;
  FunctionConfig image;  // the shape's runtime image, resolved as a function's is (config_paths.h)
  image.runtimefs = shape.runtimefs;
  c.rootfs = runtimefs_path(controller, image);
  c.functions = table_path;
  return c;
}

PoolLaunch::PoolLaunch(const ControllerConfig& controller, const std::vector<FunctionConfig>& functions,
                       const PoolPlan& plan, const common::RunnerCommand& common) {
  const std::vector<ipc::FunctionTableEntry> table = function_table(controller, functions);
  for (const PlannedPool& pool : plan.pools) {
    // A Linux runner waits for its function in pre-spawned mode: kRestore maps a snapshot, kBoot
    // attaches the function's app image and boots the kernel. A ring-3 runner without snapshots
    // to restore boots its guest at spawn (kBoot then answers kBootedAtSpawn).
    const bool restores = std::any_of(pool.functions.begin(), pool.functions.end(),
                                      [&](std::uint32_t f) { return functions[f].restores_snapshot(); });
    std::string table_path;
    if (restores || !pool.shape.ring3) {
      tables_.push_back(std::make_unique<FunctionTableFile>(table_for(table, pool.functions)));
      table_path = tables_.back()->path();
    }
    PoolRunners runners;
    runners.runner = pool_command(controller, pool.shape, common, table_path);
    // The jail: this pool's kernel, runtime image and table, and (paths_for) its functions' files.
    runners.jail = jail_contents(runners.runner.kernel, runners.runner.rootfs, table_path, functions, table);
    pools_.push_back(std::move(runners));
  }
}

}  // namespace snapfaas::supervisor
