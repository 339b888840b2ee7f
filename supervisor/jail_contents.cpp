// JailContents: the paths a runner's jail holds (see jail_contents.h).
#include "supervisor/jail_contents.h"

#include <unistd.h>

#include <algorithm>

#include "common/error.h"

namespace snapfaas::supervisor {
namespace {

void add_existing(std::vector<std::string>& to, const std::string& path) {
  if (!path.empty() && ::access(path.c_str(), F_OK) == 0) to.push_back(path);
}

}  // namespace

JailContents::JailContents(std::vector<std::string> shared, std::vector<std::vector<std::string>> per_function)
    : shared_(std::move(shared)), per_function_(std::move(per_function)) {}

std::vector<std::string> JailContents::paths_for(std::span<const std::uint32_t> functions) const {
  std::vector<std::string> out = shared_;
  for (std::uint32_t f : functions) {
    if (f >= per_function_.size()) {
      throw common::Error("jail contents: function " + std::to_string(f) + " of " + std::to_string(per_function_.size()));
    }
    out.insert(out.end(), per_function_[f].begin(), per_function_[f].end());
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

JailContents jail_contents(const std::string& runner_kernel, const std::string& runner_rootfs,
                           const std::string& table_path, const std::vector<FunctionConfig>& functions,
                           const std::vector<ipc::FunctionTableEntry>& table) {
  std::vector<std::string> shared;
  add_existing(shared, runner_kernel);
  add_existing(shared, runner_rootfs);
  add_existing(shared, table_path);
  std::vector<std::vector<std::string>> per_function(functions.size());
  for (std::size_t i = 0; i < functions.size(); ++i) {
    add_existing(per_function[i], functions[i].kernel);
    if (i < table.size()) {
      for (const std::string& dir : table[i].snapshot_dirs) add_existing(per_function[i], dir);
      add_existing(per_function[i], table[i].appfs);
    }
  }
  return JailContents(std::move(shared), std::move(per_function));
}

}  // namespace snapfaas::supervisor
