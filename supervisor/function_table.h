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

class FunctionTableFile {
 public:
  /// Writes the table. Throws common::Error naming the step.
  FunctionTableFile(const ControllerConfig& controller, const std::vector<FunctionConfig>& functions);
  ~FunctionTableFile();
  FunctionTableFile(const FunctionTableFile&) = delete;
  FunctionTableFile& operator=(const FunctionTableFile&) = delete;

  [[nodiscard]] const std::string& path() const noexcept { return path_; }

 private:
  std::string dir_;
  std::string path_;
};

}  // namespace snapfaas::supervisor
