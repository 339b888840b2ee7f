// The pre-spawned runners' function table (see function_table.h).
#include "supervisor/function_table.h"

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/error.h"

namespace snapfaas::supervisor {
namespace {

namespace fs = std::filesystem;

std::string resolve(const std::string& base, const std::string& path) {
  if (path.empty() || fs::path(path).is_absolute() || base.empty()) return path;
  return (fs::path(base) / path).lexically_normal().string();
}

}  // namespace

nlohmann::json function_table_json(const ControllerConfig& controller, const std::vector<FunctionConfig>& functions) {
  nlohmann::json table = nlohmann::json::array();
  for (const FunctionConfig& f : functions) {
    nlohmann::json dirs = nlohmann::json::array();
    if (f.restores_snapshot()) {
      dirs.push_back(resolve(controller.snapshot_dir, f.load_dir));
      for (const std::string& d : f.diff_dirs) dirs.push_back(resolve(controller.snapshot_dir, d));
    }
    table.push_back({{"name", f.name},
                     {"snapshot_dirs", dirs},
                     {"appfs", resolve(controller.appfs_dir, f.appfs)},
                     {"copy_base", f.copy_base},
                     {"copy_diff", f.copy_diff}});
  }
  return {{"functions", table}};
}

FunctionTableFile::FunctionTableFile(const ControllerConfig& controller, const std::vector<FunctionConfig>& functions) {
  std::string templ = (fs::temp_directory_path() / "snapfaas-functions-XXXXXX").string();
  if (::mkdtemp(templ.data()) == nullptr) throw common::sys_error("mkdtemp " + templ);
  dir_ = templ;
  fs::permissions(dir_, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  path_ = dir_ + "/functions.json";
  const nlohmann::json table = function_table_json(controller, functions);
  std::ofstream out(path_);
  out << table.dump(1) << '\n';
  if (!out) throw common::sys_error("write " + path_);
  out.close();
  fs::permissions(path_, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
  for (const auto& f : table["functions"]) {
    for (const auto& d : f["snapshot_dirs"]) {
      if (::access(d.get<std::string>().c_str(), F_OK) == 0) host_paths_.push_back(d.get<std::string>());
    }
    const std::string appfs = f["appfs"].get<std::string>();
    if (!appfs.empty() && ::access(appfs.c_str(), F_OK) == 0) host_paths_.push_back(appfs);
  }
}

FunctionTableFile::~FunctionTableFile() {
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

}  // namespace snapfaas::supervisor
