// The function table's JSON codec (see function_table.h).
#include "ipc/function_table.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "common/error.h"

namespace snapfaas::ipc {

namespace {

void check_size(std::size_t functions, const std::string& source) {
  if (functions > kMaxTableFunctions) {
    throw common::Error(source + ": " + std::to_string(functions) + " functions, at most " +
                        std::to_string(kMaxTableFunctions) + " (a runner opens every function's files at start)");
  }
}

}  // namespace

std::string format_function_table(const std::vector<FunctionTableEntry>& table) {
  check_size(table.size(), "function table");
  nlohmann::json functions = nlohmann::json::array();
  for (const FunctionTableEntry& f : table) {
    functions.push_back({{"name", f.name},
                         {"snapshot_dirs", f.snapshot_dirs},
                         {"appfs", f.appfs},
                         {"copy_base", f.copy_base},
                         {"copy_diff", f.copy_diff}});
  }
  return nlohmann::json{{"functions", functions}}.dump(1) + "\n";
}

std::vector<FunctionTableEntry> parse_function_table(std::string_view text, const std::string& source) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) throw common::Error(source + ": not valid JSON");
  if (!j.is_object() || !j.contains("functions") || !j["functions"].is_array()) {
    throw common::Error(source + ": needs an array 'functions'");
  }
  check_size(j["functions"].size(), source);
  std::vector<FunctionTableEntry> table;
  for (const nlohmann::json& entry : j["functions"]) {
    const std::string where = source + " entry " + std::to_string(table.size());
    if (!entry.is_object()) throw common::Error(where + ": not an object");
    FunctionTableEntry f;
    try {
      f.name = entry.value("name", std::string{});
      if (entry.contains("snapshot_dirs")) f.snapshot_dirs = entry["snapshot_dirs"].get<std::vector<std::string>>();
      f.appfs = entry.value("appfs", std::string{});
      f.copy_base = entry.value("copy_base", false);
      f.copy_diff = entry.value("copy_diff", false);
    } catch (const nlohmann::json::exception& e) {
      throw common::Error(where + ": " + e.what());
    }
    table.push_back(std::move(f));
  }
  return table;
}

std::vector<FunctionTableEntry> read_function_table(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw common::sys_error("open function table " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return parse_function_table(text.str(), "function table " + path);
}

}  // namespace snapfaas::ipc
