// The pre-spawned runners' function table (see function_table.h).
#include "supervisor/function_table.h"

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "supervisor/config_paths.h"

namespace snapfaas::supervisor {

namespace fs = std::filesystem;

std::vector<ipc::FunctionTableEntry> function_table(const ControllerConfig& controller,
                                                    const std::vector<FunctionConfig>& functions) {
  std::vector<ipc::FunctionTableEntry> table;
  for (const FunctionConfig& f : functions) {
    table.push_back({f.name, snapshot_layers(controller, f), appfs_path(controller, f), f.copy_base, f.copy_diff});
  }
  return table;
}

FunctionTableFile::FunctionTableFile(const ControllerConfig& controller, const std::vector<FunctionConfig>& functions) {
  std::string templ = (fs::temp_directory_path() / "snapfaas-functions-XXXXXX").string();
  if (::mkdtemp(templ.data()) == nullptr) throw common::sys_error("mkdtemp " + templ);
  dir_ = templ;
  fs::permissions(dir_, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  path_ = dir_ + "/functions.json";
  const std::vector<ipc::FunctionTableEntry> table = function_table(controller, functions);
  std::ofstream out(path_);
  out << ipc::format_function_table(table);
  if (!out) throw common::sys_error("write " + path_);
  out.close();
  fs::permissions(path_, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
}

FunctionTableFile::~FunctionTableFile() {
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

}  // namespace snapfaas::supervisor
