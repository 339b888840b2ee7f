// PoolLaunch: how each planned pool's runners start (pool_plan.h): firerunner's command line for
// the pool's VM shape — --mem_size, --vcpu_count, the runtime image as --rootfs, the kernel — and,
// for Linux pools and for pools with snapshots, the function table (--functions) that lists only
// the pool's own functions' files; and what the pool's jails hold. Owns the table files.
#pragma once

#include <memory>
#include <vector>

#include "common/runner_command.h"
#include "supervisor/config.h"
#include "supervisor/function_table.h"
#include "supervisor/pool_plan.h"
#include "supervisor/runner_pool.h"

namespace snapfaas::supervisor {

class PoolLaunch {
 public:
  /// `common`: what every runner shares (network, log level, ...). Writes the tables. Throws common::Error.
  PoolLaunch(const ControllerConfig& controller, const std::vector<FunctionConfig>& functions, const PoolPlan& plan,
             const common::RunnerCommand& common);

  /// By pool, for PoolOptions::pools.
  [[nodiscard]] const std::vector<PoolRunners>& pools() const noexcept { return pools_; }

 private:
  std::vector<std::unique_ptr<FunctionTableFile>> tables_;
  std::vector<PoolRunners> pools_;
};

/// The runner command line of one pool (pure: tests). `table_path`: its function table, "" for none.
[[nodiscard]] common::RunnerCommand pool_command(const ControllerConfig& controller, const VmShape& shape,
                                                 const common::RunnerCommand& common, const std::string& table_path);

}  // namespace snapfaas::supervisor
