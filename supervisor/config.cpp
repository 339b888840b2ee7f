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

[[nodiscard]] std::string absolute_against(const std::string& base_dir, const std::string& path) {
  if (path.empty() || fs::path(path).is_absolute()) return path;
  return (fs::path(base_dir) / path).lexically_normal().string();
}

[[nodiscard]] FunctionConfig parse_function(const YAML::Node& map, std::string name, const std::string& source) {
  if (!map.IsMap()) throw error_at(source, map.Mark(), "function '" + name + "' must be a map");
  FunctionConfig f;
  f.name = std::move(name);
  bool has_runtimefs = false;
  for (const auto& entry : map) {
    const std::string key = entry.first.Scalar();
    const YAML::Node& value = entry.second;
    if (key == "name") {
      f.name = as_string(value, key, source);
    } else if (key == "runtimefs") {
      f.runtimefs = as_string(value, key, source);
      has_runtimefs = true;
    } else if (key == "appfs") {
      f.appfs = as_string(value, key, source);
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
      f.load_dir = as_string(value, key, source);
    } else if (key == "diff_dirs") {
      if (value.IsScalar()) {
        // The seed wrote a comma-separated string; accept it as well as a list.
        std::stringstream parts(value.Scalar());
        for (std::string part; std::getline(parts, part, ',');) {
          if (!part.empty()) f.diff_dirs.push_back(part);
        }
      } else if (value.IsSequence()) {
        for (const auto& item : value) f.diff_dirs.push_back(as_string(item, key, source));
      } else {
        throw error_at(source, value.Mark(), "field 'diff_dirs' must be a list of strings");
      }
    } else if (key == "kernel") {
      f.kernel = as_string(value, key, source);
    } else if (key == "ring3") {
      f.ring3 = as<bool>(value, key, source, "a boolean");
    } else {
      spdlog::warn("{}:{}: unknown key '{}' in function '{}' (ignored)", source, entry.first.Mark().line + 1, key,
                   f.name);
    }
  }
  if (f.name.empty()) throw error_at(source, map.Mark(), "function without a name");
  if (!has_runtimefs && f.kernel.empty()) {
    throw error_at(source, map.Mark(), "function '" + f.name + "': missing field 'runtimefs'");
  }
  if (!f.diff_dirs.empty() && f.load_dir.empty()) {
    throw error_at(source, map.Mark(), "function '" + f.name + "': diff_dirs without load_dir");
  }
  return f;
}

}  // namespace

ControllerConfig parse_controller_config(const std::string& text, const std::string& source) {
  const YAML::Node root = parse_yaml(text, source);
  if (!root.IsMap()) throw error_at(source, root.Mark(), "controller config must be a map");
  ControllerConfig c;
  std::set<std::string> seen;
  for (const auto& entry : root) {
    const std::string key = entry.first.Scalar();
    std::string* field = nullptr;
    if (key == "kernel_path") field = &c.kernel_path;
    else if (key == "runtimefs_dir") field = &c.runtimefs_dir;
    else if (key == "appfs_dir") field = &c.appfs_dir;
    else if (key == "snapshot_dir") field = &c.snapshot_dir;
    else if (key == "function_config") field = &c.function_config;
    else if (key == "firerunner_path") field = &c.firerunner_path;
    else if (key == "network_namespace_prefix") field = &c.network_namespace_prefix;
    else if (key == "network_tap") field = &c.network_tap;
    if (field == nullptr) {
      spdlog::warn("{}:{}: unknown key '{}' (ignored)", source, entry.first.Mark().line + 1, key);
      continue;
    }
    *field = as_string(entry.second, key, source);
    seen.insert(key);
  }
  for (const char* required : {"kernel_path", "function_config", "firerunner_path"}) {
    if (!seen.contains(required)) throw error_at(source, root.Mark(), std::string("missing field '") + required + "'");
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
  const YAML::Node root = parse_yaml(text, source);
  std::vector<FunctionConfig> functions;
  if (root.IsMap()) {
    for (const auto& entry : root) functions.push_back(parse_function(entry.second, entry.first.Scalar(), source));
  } else if (root.IsSequence()) {
    for (const auto& item : root) functions.push_back(parse_function(item, "", source));
  } else {
    throw error_at(source, root.Mark(), "function config must be a map of functions or a list");
  }
  if (functions.empty()) throw error_at(source, root.Mark(), "no functions defined");
  std::set<std::string> names;
  for (const auto& f : functions) {
    if (!names.insert(f.name).second) throw common::Error(source + ": duplicate function '" + f.name + "'");
  }
  return functions;
}

ControllerConfig load_controller_config(const std::string& path) {
  ControllerConfig c = parse_controller_config(read_text(path), path);
  const std::string dir = fs::absolute(fs::path(path)).parent_path().string();
  for (std::string* p : {&c.kernel_path, &c.runtimefs_dir, &c.appfs_dir, &c.snapshot_dir, &c.function_config,
                         &c.firerunner_path}) {
    *p = absolute_against(dir, *p);
  }
  return c;
}

std::vector<FunctionConfig> load_function_configs(const std::string& path) {
  std::vector<FunctionConfig> functions = parse_function_configs(read_text(path), path);
  const std::string dir = fs::absolute(fs::path(path)).parent_path().string();
  for (auto& f : functions) f.kernel = absolute_against(dir, f.kernel);
  return functions;
}

}  // namespace snapfaas::supervisor
