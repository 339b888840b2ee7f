// FunctionTableFile: the JSON table a pre-spawned firerunner reads with --functions (index = the
// kRestore/kBoot arg0; runner/restore_server.h): per function its snapshot dirs base[,diff...]
// (load_dir and diff_dirs resolved against the controller's snapshot_dir), appfs and copy flags.
// Written to a private temporary directory, removed by the destructor.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "supervisor/config.h"

namespace snapfaas::supervisor {

/// The table as JSON (pure: for tests). Relative snapshot paths are resolved against
/// controller.snapshot_dir, appfs against controller.appfs_dir.
[[nodiscard]] nlohmann::json function_table_json(const ControllerConfig& controller,
                                                 const std::vector<FunctionConfig>& functions);

class FunctionTableFile {
 public:
  /// Writes the table. Throws common::Error naming the step.
  FunctionTableFile(const ControllerConfig& controller, const std::vector<FunctionConfig>& functions);
  ~FunctionTableFile();
  FunctionTableFile(const FunctionTableFile&) = delete;
  FunctionTableFile& operator=(const FunctionTableFile&) = delete;

  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  /// Snapshot dirs and app images the runners must see (existing ones only).
  [[nodiscard]] const std::vector<std::string>& host_paths() const noexcept { return host_paths_; }

 private:
  std::string dir_;
  std::string path_;
  std::vector<std::string> host_paths_;
};

}  // namespace snapfaas::supervisor
