// JailContents: which host paths a runner's jail holds (bind-mounted read-only at the same path):
// what every runner needs — its kernel, its runtime image, the function table — and, per function,
// that function's kernel, app image and snapshot layers. A runner's jail holds the files of the
// functions it may serve and of no other (RunnerPool::servable_functions decides which); never a
// whole configured directory (runtimefs_dir, appfs_dir, snapshot_dir hold every tenant's files).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ipc/function_table.h"
#include "supervisor/config.h"

namespace snapfaas::supervisor {

class JailContents {
 public:
  JailContents() = default;
  /// `shared`: every runner's; `per_function[i]`: function i's (index in the function list).
  JailContents(std::vector<std::string> shared, std::vector<std::vector<std::string>> per_function);

  /// The shared paths plus those of `functions`, sorted, each once. Throws common::Error for an
  /// index outside the function list.
  [[nodiscard]] std::vector<std::string> paths_for(std::span<const std::uint32_t> functions) const;
  [[nodiscard]] std::size_t function_count() const noexcept { return per_function_.size(); }

 private:
  std::vector<std::string> shared_;
  std::vector<std::vector<std::string>> per_function_;
};

/// The supervisor's jail contents. Shared: `runner_kernel`, `runner_rootfs`, `table_path` (each when
/// non-empty). Function i: functions[i].kernel, and table[i]'s snapshot directories and app image
/// (function_table(): paths already resolved). Only paths that exist (a missing one is the
/// runner's error to report, as on the host).
[[nodiscard]] JailContents jail_contents(const std::string& runner_kernel, const std::string& runner_rootfs,
                                         const std::string& table_path, const std::vector<FunctionConfig>& functions,
                                         const std::vector<ipc::FunctionTableEntry>& table);

}  // namespace snapfaas::supervisor
