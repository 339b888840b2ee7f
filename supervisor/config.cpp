// YAML parsing of the controller and function files (see config.h).
#include "supervisor/config.h"

#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "common/error.h"
#include "supervisor/config_paths.h"

namespace snapfaas::supervisor {
namespace {

namespace fs = std::filesystem;

[[nodiscard]] common::Error error_at(const std::string& source, const YAML::Mark& mark, const std::string& what) {
  if (mark.line < 0) return common::Error(source + ": " + what);
  return common::Error(source + ":" + std::to_string(mark.line + 1) + ": " + what);
}

[[nodiscard]] YAML::Node parse_yaml(const std::string& text, const std::string& source) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw error_at(source, e.mark, "malformed YAML: " + e.msg);
  }
}

[[nodiscard]] std::string read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw common::sys_error("open config " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

template <typename T>
[[nodiscard]] T as(const YAML::Node& node, const std::string& key, const std::string& source, const char* type) {
  try {
    return node.as<T>();
  } catch (const YAML::Exception&) {
    throw error_at(source, node.Mark(), "field '" + key + "' must be " + type);
  }
}

/// Scalar string (a number or bool scalar is also accepted as text, as YAML intends).
[[nodiscard]] std::string as_string(const YAML::Node& node, const std::string& key, const std::string& source) {
  if (!node.IsScalar()) throw error_at(source, node.Mark(), "field '" + key + "' must be a string");
  return node.Scalar();
}

[[nodiscard]] std::uint32_t as_positive(const YAML::Node& node, const std::string& key, const std::string& source) {
  if (!node.IsScalar()) throw error_at(source, node.Mark(), "field '" + key + "' must be a positive integer");
  const auto value = as<long long>(node, key, source, "a positive integer");
  if (value <= 0 || value > 1'000'000) {
    throw error_at(source, node.Mark(), "field '" + key + "' must be a positive integer (got " + node.Scalar() + ")");
  }
  return static_cast<std::uint32_t>(value);
}

/// A path field: a plain path or a seed `file://localhost/...` URL (made a plain path).
[[nodiscard]] std::string as_path(const YAML::Node& node, const std::string& key, const std::string& source) {
  const std::string text = as_string(node, key, source);
  try {
    return path_from_url(text);
  } catch (const common::Error& e) {
    throw error_at(source, node.Mark(), "field '" + key + "': " + e.what());
  }
}

/// A list of paths: a YAML list, or the seed's comma-separated string ("a, b" and "a,b,").
[[nodiscard]] std::vector<std::string> as_path_list(const YAML::Node& node, const std::string& key,
                                                    const std::string& source) {
  std::vector<std::string> out;
  if (node.IsScalar()) {
    std::stringstream parts(node.Scalar());
    for (std::string part; std::getline(parts, part, ',');) {
      const std::size_t first = part.find_first_not_of(" \t");
      if (first == std::string::npos) continue;
      part = part.substr(first, part.find_last_not_of(" \t") - first + 1);
      try {
        out.push_back(path_from_url(part));
      } catch (const common::Error& e) {
        throw error_at(source, node.Mark(), "field '" + key + "': " + e.what());
      }
    }
  } else if (node.IsSequence()) {
    for (const auto& item : node) out.push_back(as_path(item, key, source));
  } else {
    throw error_at(source, node.Mark(), "field '" + key + "' must be a list of strings or a comma-separated string");
  }
  return out;
}

/// Keys of the seed's function files that the supervisor reads but does not act on: why.
[[nodiscard]] const char* seed_key_ignored(const std::string& key) noexcept {
  if (key == "cmdline") return "fc_wrapper's boot command line; runners use the controller's kernel_args";
  if (key == "dump_dir") return "fc_wrapper's snapshot output (fc_wrapper --dump_dir builds snapshots)";
  if (key == "hugepage") return "no huge-page guest memory";
  return nullptr;
}

[[nodiscard]] FunctionConfig parse_function(const YAML::Node& map, std::string name, const std::string& source) {
  if (!map.IsMap()) throw error_at(source, map.Mark(), "function '" + name + "' must be a map");
  FunctionConfig f;
  f.name = std::move(name);
  bool has_runtimefs = false;
  std::vector<std::string> load_dir_diffs;  // the seed's load_dir "base,diff..."
  std::set<std::string> seen;
  for (const auto& entry : map) {
    const std::string key = entry.first.Scalar();
    const YAML::Node& value = entry.second;
    if (!seen.insert(key).second) {
      throw error_at(source, entry.first.Mark(), "function '" + f.name + "': field '" + key + "' given twice");
    }
    if (key == "name") {
      f.name = as_string(value, key, source);
    } else if (key == "runtimefs") {
      f.runtimefs = as_path(value, key, source);
      has_runtimefs = true;
    } else if (key == "appfs") {
      f.appfs = as_path(value, key, source);
    } else if (key == "vcpus") {
      f.vcpus = as_positive(value, key, source);
    } else if (key == "memory") {
      f.memory = as_positive(value, key, source);
    } else if (key == "concurrency_limit") {
      f.concurrency_limit = as_positive(value, key, source);
    } else if (key == "timeout_ms") {
      f.timeout_ms = as_positive(value, key, source);
    } else if (key == "copy_base") {
      f.copy_base = as<bool>(value, key, source, "a boolean");
    } else if (key == "network") {
      f.network = as<bool>(value, key, source, "a boolean");
    } else if (key == "copy_diff") {
      f.copy_diff = as<bool>(value, key, source, "a boolean");
    } else if (key == "load_ws") {
      f.load_ws = as<bool>(value, key, source, "a boolean");
    } else if (key == "load_dir") {
      std::vector<std::string> layers = as_path_list(value, key, source);
      if (layers.empty()) throw error_at(source, value.Mark(), "field 'load_dir' is empty");
      f.load_dir = layers.front();
      load_dir_diffs.assign(layers.begin() + 1, layers.end());
    } else if (key == "diff_dirs") {
      f.diff_dirs = as_path_list(value, key, source);
    } else if (key == "kernel") {
      f.kernel = as_path(value, key, source);
    } else if (key == "ring3") {
      f.ring3 = as<bool>(value, key, source, "a boolean");
    } else if (const char* why = seed_key_ignored(key)) {
      spdlog::warn("{}:{}: '{}' in function '{}' ignored: {}", source, entry.first.Mark().line + 1, key, f.name, why);
    } else {
      spdlog::warn("{}:{}: unknown key '{}' in function '{}' (ignored)", source, entry.first.Mark().line + 1, key,
                   f.name);
    }
  }
  f.diff_dirs.insert(f.diff_dirs.begin(), load_dir_diffs.begin(), load_dir_diffs.end());
  if (f.name.empty()) throw error_at(source, map.Mark(), "function without a name");
  if (!has_runtimefs && f.kernel.empty()) {
    throw error_at(source, map.Mark(), "function '" + f.name + "': missing field 'runtimefs'");
  }
  if (!f.diff_dirs.empty() && f.load_dir.empty()) {
    throw error_at(source, map.Mark(), "function '" + f.name + "': diff_dirs without load_dir");
  }
  return f;
}

/// A map of functions (name -> fields) or a list of them (each with `name`).
[[nodiscard]] std::vector<FunctionConfig> parse_functions(const YAML::Node& root, const std::string& source) {
  std::vector<FunctionConfig> functions;
  if (root.IsMap()) {
    for (const auto& entry : root) functions.push_back(parse_function(entry.second, entry.first.Scalar(), source));
  } else if (root.IsSequence()) {
    for (const auto& item : root) functions.push_back(parse_function(item, "", source));
  } else {
    throw error_at(source, root.Mark(), "functions must be a map of name: fields, or a list of maps with 'name'");
  }
  if (functions.empty()) throw error_at(source, root.Mark(), "no functions defined");
  std::set<std::string> names;
  for (const auto& f : functions) {
    if (!names.insert(f.name).second) throw common::Error(source + ": duplicate function '" + f.name + "'");
  }
  return functions;
}

}  // namespace

ControllerConfig parse_controller_config(const std::string& text, const std::string& source) {
  const YAML::Node root = parse_yaml(text, source);
  if (!root.IsMap()) throw error_at(source, root.Mark(), "controller config must be a map");
  ControllerConfig c;
  std::set<std::string> seen;
  for (const auto& entry : root) {
    std::string key = entry.first.Scalar();
    if (key == "runtimfs_dir") {  // the seed README's own spelling
      spdlog::warn("{}:{}: 'runtimfs_dir' read as 'runtimefs_dir' (misspelled in the SnapFaaS README)", source,
                   entry.first.Mark().line + 1);
      key = "runtimefs_dir";
    } else if (key == "kernel_boot_args") {  // the seed's ControllerConfig field; its files say kernel_args
      key = "kernel_args";
    }
    if (!seen.insert(key).second) throw error_at(source, entry.first.Mark(), "field '" + key + "' given twice");
    const YAML::Node& value = entry.second;
    std::string* path = nullptr;
    std::string* plain = nullptr;
    if (key == "kernel_path") path = &c.kernel_path;
    else if (key == "runtimefs_dir") path = &c.runtimefs_dir;
    else if (key == "appfs_dir") path = &c.appfs_dir;
    else if (key == "snapshot_dir") path = &c.snapshot_dir;
    else if (key == "function_config") path = &c.function_config;
    else if (key == "firerunner_path") path = &c.firerunner_path;
    else if (key == "kernel_args") plain = &c.kernel_args;
    else if (key == "network_namespace_prefix") plain = &c.network_namespace_prefix;
    else if (key == "network_tap") plain = &c.network_tap;
    if (path != nullptr) {
      *path = as_path(value, key, source);
    } else if (plain != nullptr) {
      *plain = as_string(value, key, source);
    } else if (key == "allow_network") {
      c.allow_network = as<bool>(value, key, source, "a boolean");
    } else if (key == "pool") {  // pool_config.h
      c.pools = parse_pool_section(value, source);
    } else if (key == "functions") {
      c.functions = parse_functions(value, source);
    } else {
      spdlog::warn("{}:{}: unknown key '{}' (ignored)", source, entry.first.Mark().line + 1, key);
      seen.erase(key);
    }
  }
  if (!seen.contains("kernel_path")) throw error_at(source, root.Mark(), "missing field 'kernel_path'");
  if (!seen.contains("function_config") && !seen.contains("functions")) {
    throw error_at(source, root.Mark(), "missing field 'function_config' (or functions written under 'functions:')");
  }
  if (seen.contains("function_config") && seen.contains("functions")) {
    throw error_at(source, root["functions"].Mark(), "both 'function_config' and 'functions': give one");
  }
  // A name under /run/netns: no path separators, nothing a shell would expand.
  const bool prefix_ok = !c.network_namespace_prefix.empty() &&
                         std::all_of(c.network_namespace_prefix.begin(), c.network_namespace_prefix.end(), [](char ch) {
                           return std::isalnum(static_cast<unsigned char>(ch)) != 0 || ch == '-' || ch == '_' || ch == '.';
                         }) && c.network_namespace_prefix[0] != '.';
  if (!prefix_ok) {
    throw error_at(source, root["network_namespace_prefix"].Mark(),
                   "field 'network_namespace_prefix' must be a name of letters, digits, '-', '_', '.'");
  }
  if (c.network_tap.find('/') == std::string::npos) {
    throw error_at(source, root["network_tap"].Mark(), "field 'network_tap' must be TAP/MAC");
  }
  return c;
}

std::vector<FunctionConfig> parse_function_configs(const std::string& text, const std::string& source) {
  return parse_functions(parse_yaml(text, source), source);
}

ControllerConfig load_controller_config(const std::string& path) {
  ControllerConfig c = parse_controller_config(read_text(path), path);
  const std::string dir = fs::absolute(fs::path(path)).parent_path().string();
  for (std::string* p : {&c.kernel_path, &c.runtimefs_dir, &c.appfs_dir, &c.snapshot_dir, &c.function_config,
                         &c.firerunner_path}) {
    *p = absolute_against(dir, *p);
  }
  for (auto& f : c.functions) f.kernel = absolute_against(dir, f.kernel);
  return c;
}

std::vector<FunctionConfig> load_function_configs(const std::string& path) {
  std::vector<FunctionConfig> functions = parse_function_configs(read_text(path), path);
  const std::string dir = fs::absolute(fs::path(path)).parent_path().string();
  for (auto& f : functions) f.kernel = absolute_against(dir, f.kernel);
  return functions;
}

std::vector<FunctionConfig> load_functions(const ControllerConfig& controller, const std::string& controller_path) {
  const bool inline_functions = controller.function_config.empty();
  const std::string source = inline_functions ? controller_path : controller.function_config;
  std::vector<FunctionConfig> functions =
      inline_functions ? controller.functions : load_function_configs(controller.function_config);
  if (functions.empty()) throw common::Error(source + ": no functions defined");
  // Relative image and snapshot paths without the controller's directory key: against the file
  // that names them (with the key they stay relative to it: config_paths.h resolves them).
  const std::string dir = fs::absolute(fs::path(source)).parent_path().string();
  for (auto& f : functions) {
    if (controller.runtimefs_dir.empty()) f.runtimefs = absolute_against(dir, f.runtimefs);
    if (controller.appfs_dir.empty()) f.appfs = absolute_against(dir, f.appfs);
    if (controller.snapshot_dir.empty()) {
      f.load_dir = absolute_against(dir, f.load_dir);
      for (auto& d : f.diff_dirs) d = absolute_against(dir, d);
    }
    if (f.network && !controller.allow_network) {
      throw common::Error(source + ": function '" + f.name + "' has network: true but " + controller_path +
                          " says allow_network: false");
    }
  }
  return functions;
}

}  // namespace snapfaas::supervisor
