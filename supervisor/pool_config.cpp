// The controller file's `pool:` section (see pool_config.h).
#include "supervisor/pool_config.h"

#include <yaml-cpp/yaml.h>

#include "common/error.h"

namespace snapfaas::supervisor {
namespace {

[[nodiscard]] common::Error error_at(const std::string& source, const YAML::Mark& mark, const std::string& what) {
  if (mark.line < 0) return common::Error(source + ": " + what);
  return common::Error(source + ":" + std::to_string(mark.line + 1) + ": " + what);
}

[[nodiscard]] std::uint32_t positive(const YAML::Node& node, const std::string& key, const std::string& source) {
  long long value = 0;
  try {
    if (!node.IsScalar()) throw YAML::Exception(node.Mark(), "");
    value = node.as<long long>();
  } catch (const YAML::Exception&) {
    throw error_at(source, node.Mark(), "pool: field '" + key + "' must be a positive integer");
  }
  if (value <= 0 || value > 1'000'000) {
    throw error_at(source, node.Mark(), "pool: field '" + key + "' must be a positive integer (got " + node.Scalar() + ")");
  }
  return static_cast<std::uint32_t>(value);
}

}  // namespace

std::vector<PoolRequest> parse_pool_section(const YAML::Node& node, const std::string& source) {
  if (!node.IsSequence()) {
    throw error_at(source, node.Mark(), "field 'pool' must be a list of {memory, vcpus, runtimefs, runners}");
  }
  std::vector<PoolRequest> pools;
  for (const YAML::Node& item : node) {
    if (!item.IsMap()) throw error_at(source, item.Mark(), "pool: each entry must be a map");
    PoolRequest p;
    p.line = item.Mark().line + 1;
    bool has_memory = false, has_runners = false;
    for (const auto& entry : item) {
      const std::string key = entry.first.Scalar();
      if (key == "memory") {
        p.memory = positive(entry.second, key, source);
        has_memory = true;
      } else if (key == "vcpus") {
        p.vcpus = positive(entry.second, key, source);
      } else if (key == "runners") {
        p.runners = positive(entry.second, key, source);
        has_runners = true;
      } else if (key == "runtimefs") {
        if (!entry.second.IsScalar()) throw error_at(source, entry.second.Mark(), "pool: field 'runtimefs' must be a string");
        p.runtimefs = entry.second.Scalar();
      } else {
        throw error_at(source, entry.first.Mark(), "pool: unknown key '" + key + "' (memory, vcpus, runtimefs, runners)");
      }
    }
    if (!has_memory || !has_runners) throw error_at(source, item.Mark(), "pool: each entry needs 'memory' and 'runners'");
    for (const PoolRequest& q : pools) {
      if (q.memory == p.memory && q.vcpus == p.vcpus && q.runtimefs == p.runtimefs) {
        throw error_at(source, item.Mark(), "pool: the same shape is listed twice (line " + std::to_string(q.line) + ")");
      }
    }
    pools.push_back(std::move(p));
  }
  return pools;
}

}  // namespace snapfaas::supervisor
