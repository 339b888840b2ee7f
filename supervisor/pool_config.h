// PoolRequest: one entry of the controller file's optional `pool:` section — how many runners to
// pre-spawn for one VM shape (memory, vCPUs, runtime image), instead of sizing that shape's pool
// from --mem and the workload (pool_plan.h). Parsed here so config.cpp only routes the key.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace YAML {
class Node;
}

namespace snapfaas::supervisor {

/// `pool: [{memory: 128, vcpus: 1, runtimefs: rootfs.ext4, runners: 4}, ...]`. A shape not listed
/// is sized from what is left of --mem (pool_plan.h).
struct PoolRequest {
  std::uint32_t memory = 0;   ///< MiB of guest RAM (required)
  std::uint32_t vcpus = 1;
  std::string runtimefs;      ///< image file name under runtimefs_dir; empty: kernel-only (ring-3) functions
  std::uint32_t runners = 0;  ///< pre-spawned runners of that shape (required, > 0)
  int line = 0;               ///< 1-based line in the controller file (errors)
  bool operator==(const PoolRequest&) const = default;
};

/// Parses the `pool:` value: a list of maps with the keys above. Throws common::Error
/// "SOURCE:LINE: ..." for anything else (unknown keys are errors: a typo would size a pool wrongly).
[[nodiscard]] std::vector<PoolRequest> parse_pool_section(const YAML::Node& node, const std::string& source);

}  // namespace snapfaas::supervisor
