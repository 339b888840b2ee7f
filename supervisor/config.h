// Supervisor configuration: the controller file (paths to images, snapshots, the function file and
// the runner binary) and the function file (one entry per function). Both are YAML (yaml-cpp);
// unknown keys are warned about, every error names the file and line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace snapfaas::supervisor {

/// The controller file (the seed's `snapctr` config). Relative paths stay as written; resolve()
/// makes them absolute against the controller file's directory.
struct ControllerConfig {
  std::string kernel_path;      ///< guest vmlinux
  std::string runtimefs_dir;    ///< directory of runtime (rootfs) images
  std::string appfs_dir;        ///< directory of app images
  std::string snapshot_dir;     ///< directory of base/diff snapshots
  std::string function_config;  ///< the function file
  std::string firerunner_path;  ///< the runner binary
  /// Used only when a function has `network: true` (docs/NETWORKING.md): runner i joins the network
  /// namespace /run/netns/<network_namespace_prefix><i> (scripts/setup-network.sh N) and attaches
  /// virtio-net on `network_tap` there (firerunner --network TAP/MAC).
  std::string network_namespace_prefix = "snapfaas-";
  std::string network_tap = "tap0/06:00:ac:10:00:02";
};

/// One function. Absent snapshot fields (load_dir empty) mean a regular boot.
struct FunctionConfig {
  std::string name;
  std::string runtimefs;          ///< image file name under runtimefs_dir
  std::string appfs;              ///< image file name under appfs_dir
  std::uint32_t vcpus = 1;
  std::uint32_t memory = 128;     ///< MiB of guest RAM
  std::uint32_t concurrency_limit = 1;  ///< maximum VMs of this function at once
  std::uint32_t timeout_ms = 0;   ///< deadline of each request, from dispatch (0: the supervisor's
                                  ///< default, 30 s; `--deadline` overrides every function's)
  bool copy_base = false;         ///< read the base snapshot memory eagerly instead of mmapping it
  bool copy_diff = false;         ///< same for diff snapshots
  bool load_ws = false;           ///< prefetch the working set saved beside the last diff (DIR/working_set,
                                  ///< scripts/build-snapshots.sh records it) at each restore
  std::string load_dir;           ///< base snapshot directory (under snapshot_dir)
  std::vector<std::string> diff_dirs;
  std::string kernel;             ///< per-function kernel override (ring-3 test guests)
  bool ring3 = false;             ///< start the kernel ELF at CPL3 (ring-3 test guest)
  bool network = false;           ///< attach virtio-net (tap0 in the runner's snapfaas-i netns); off: no device
                                  ///< (a snapshot-restoring one needs a base built with the device: python3-net)

  [[nodiscard]] bool restores_snapshot() const noexcept { return !load_dir.empty(); }
};

/// Parses a controller file. Throws common::Error "FILE:LINE: message" on malformed YAML, missing
/// or mistyped fields. Paths are made absolute against the file's directory.
[[nodiscard]] ControllerConfig load_controller_config(const std::string& path);

/// Parses a function file: either a map name -> fields or a list of maps with a `name` key.
/// Throws common::Error "FILE:LINE: message"; duplicate names are errors.
[[nodiscard]] std::vector<FunctionConfig> load_function_configs(const std::string& path);

/// Same, from a YAML string (`source_name` stands for the file name in errors).
[[nodiscard]] ControllerConfig parse_controller_config(const std::string& text, const std::string& source_name);
[[nodiscard]] std::vector<FunctionConfig> parse_function_configs(const std::string& text, const std::string& source_name);

}  // namespace snapfaas::supervisor
