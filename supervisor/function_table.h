// FunctionTableFile: the function table (ipc/function_table.h) a pre-spawned firerunner reads with
// --functions: per function its snapshot dirs base[,diff...] (load_dir and diff_dirs resolved
// against the controller's snapshot_dir), appfs and copy flags. Written to a private temporary
// directory, removed by the destructor.
#pragma once

#include <string>
#include <vector>

#include "ipc/function_table.h"
#include "supervisor/config.h"

namespace snapfaas::supervisor {

/// The table's entries, one per function in order (pure: for tests). Relative snapshot paths are
/// resolved against controller.snapshot_dir, appfs against controller.appfs_dir.
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
