// Supervisor configuration: the controller file (paths to images, snapshots, the function file and
// the runner binary) and the function file (one entry per function). Both are YAML (yaml-cpp).
// SnapFaaS (seed) files load unchanged: its keys (the misspelled `runtimfs_dir` too, with a
// warning; `kernel_args`/`kernel_boot_args`, `allow_network`, functions inline under `functions:`),
// `file://localhost/` URLs and plain paths, comma-separated snapshot lists, a function file as a
// map or a list. Unknown keys are warned about; every error is one line naming the file and line.
// Where the named files are: config_paths.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "supervisor/pool_config.h"

namespace snapfaas::supervisor {

/// One function. Absent snapshot fields (load_dir empty) mean a regular boot.
struct FunctionConfig {
  std::string name;
  std::string runtimefs;          ///< image file name under runtimefs_dir (python3: rootfs.ext4, nodejs: nodejs.ext4);
                                  ///< runners of each image are pre-spawned apart (pool_plan.h)
  std::string appfs;              ///< image file name under appfs_dir
  std::uint32_t vcpus = 1;        ///< the VM's vCPUs; a restored snapshot must have been taken with as many
  std::uint32_t memory = 128;     ///< MiB of guest RAM: the VM's real size, what the --mem budget counts
  std::uint32_t concurrency_limit = 1;  ///< maximum VMs of this function at once
  std::uint32_t timeout_ms = 0;   ///< deadline of each request, from dispatch (0: the supervisor's
                                  ///< default, 30 s; `--deadline` overrides every function's)
  bool copy_base = false;         ///< read the base snapshot memory eagerly instead of mmapping it
  bool copy_diff = false;         ///< same for diff snapshots
  bool load_ws = false;           ///< prefetch the working set saved beside the last diff (DIR/working_set,
                                  ///< scripts/build-snapshots.sh records it) at each restore
  std::string load_dir;           ///< base snapshot directory (under snapshot_dir); the seed's
                                  ///< "base,diff..." form puts its diffs first in diff_dirs
  std::vector<std::string> diff_dirs;  ///< diffs (under snapshot_dir, or snapshot_dir/diff as the seed)
  std::string kernel;             ///< per-function kernel override (ring-3 test guests)
  bool ring3 = false;             ///< start the kernel ELF at CPL3 (ring-3 test guest)
  bool network = false;           ///< attach virtio-net (tap0 in the runner's snapfaas-i netns); off: no device
                                  ///< (a snapshot-restoring one needs a base built with the device: python3-net)

  [[nodiscard]] bool restores_snapshot() const noexcept { return !load_dir.empty(); }
};

/// The controller file (the seed's `snapctr` config). Parsing keeps paths as written (URLs made
/// plain paths); load_controller_config makes them absolute against the file's directory.
struct ControllerConfig {
  std::string kernel_path;      ///< guest vmlinux
  std::string kernel_args;      ///< appended to the guest kernel command line (seed: kernel_args, kernel_boot_args)
  std::string runtimefs_dir;    ///< directory of runtime (rootfs) images (seed README: runtimfs_dir)
  std::string appfs_dir;        ///< directory of app images
  std::string snapshot_dir;     ///< directory of base snapshots and diffs (also snapshot_dir/diff/NAME)
  std::string function_config;  ///< the function file ("" when the functions are inline)
  std::string firerunner_path;  ///< the runner binary ("" = found: config_paths.h runner_binary())
  bool allow_network = true;    ///< seed key: false refuses functions with `network: true`
  /// Functions written in the controller file itself (the seed's later `functions:` map); then
  /// function_config may be absent. Their `kernel` paths are resolved against this file.
  std::vector<FunctionConfig> functions;
  /// Used only when a function has `network: true` (docs/NETWORKING.md): runner i joins the network
  /// namespace /run/netns/<network_namespace_prefix><i> (scripts/setup-network.sh N) and attaches
  /// virtio-net on `network_tap` there (firerunner --network TAP/MAC).
  std::string network_namespace_prefix = "snapfaas-";
  std::string network_tap = "tap0/06:00:ac:10:00:02";
  /// `pool:` (optional): runners per VM shape, instead of sizing them from --mem (pool_plan.h).
  std::vector<PoolRequest> pools;
};

/// Parses a controller file. Throws common::Error "FILE:LINE: message" on malformed YAML, missing
/// or mistyped fields. Paths are made absolute against the file's directory.
[[nodiscard]] ControllerConfig load_controller_config(const std::string& path);

/// Parses a function file: either a map name -> fields or a list of maps with a `name` key.
/// Throws common::Error "FILE:LINE: message"; duplicate names are errors. `kernel` paths are made
/// absolute against the file's directory (images and snapshots stay relative to the controller's dirs).
[[nodiscard]] std::vector<FunctionConfig> load_function_configs(const std::string& path);

/// The controller's functions: inline ones, else its function file's. A relative runtimefs, appfs,
/// load_dir or diff whose controller directory key is absent is made absolute against the file
/// that names it. Throws common::Error (a network function with `allow_network: false`, none at all).
[[nodiscard]] std::vector<FunctionConfig> load_functions(const ControllerConfig& controller,
                                                         const std::string& controller_path);

/// Same, from a YAML string (`source_name` stands for the file name in errors).
[[nodiscard]] ControllerConfig parse_controller_config(const std::string& text, const std::string& source_name);
[[nodiscard]] std::vector<FunctionConfig> parse_function_configs(const std::string& text, const std::string& source_name);

}  // namespace snapfaas::supervisor
