// FunctionTableFile: the function table (ipc/function_table.h) a pre-spawned firerunner reads with
// --functions: per function its snapshot dirs base[,diff...] (config_paths.h snapshot_layers: under
// the controller's snapshot_dir, a diff also under snapshot_dir/diff/), appfs and copy flags. Written to a private temporary
// directory, removed by the destructor.
#pragma once

#include <string>
#include <vector>

#include "ipc/function_table.h"
#include "supervisor/config.h"

namespace snapfaas::supervisor {

/// The table's entries, one per function in order (for tests; looks only whether a diff is under
/// snapshot_dir or snapshot_dir/diff). Paths resolved as config_paths.h says.
[[nodiscard]] std::vector<ipc::FunctionTableEntry> function_table(const ControllerConfig& controller,
                                                                  const std::vector<FunctionConfig>& functions);

/// `table` with the entries of functions not in `servable` reduced to their name: a runner of one
/// pool (pool_plan.h) opens only its own functions' files, and the indices stay the function list's.
[[nodiscard]] std::vector<ipc::FunctionTableEntry> table_for(std::vector<ipc::FunctionTableEntry> table,
                                                             const std::vector<std::uint32_t>& servable);

class FunctionTableFile {
 public:
  /// Writes the table. Throws common::Error naming the step.
  FunctionTableFile(const ControllerConfig& controller, const std::vector<FunctionConfig>& functions);
  /// Writes `table` (e.g. table_for's). Throws common::Error naming the step.
  explicit FunctionTableFile(const std::vector<ipc::FunctionTableEntry>& table);
  ~FunctionTableFile();
  FunctionTableFile(const FunctionTableFile&) = delete;
  FunctionTableFile& operator=(const FunctionTableFile&) = delete;

  [[nodiscard]] const std::string& path() const noexcept { return path_; }

 private:
  std::string dir_;
  std::string path_;
};

}  // namespace snapfaas::supervisor
