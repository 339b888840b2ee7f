// Pre-spawned restore mode of firerunner (`--functions FILE.json`): the VM (KVM VM, memslots,
// irqchip, vCPUs) and the ring window are built ahead of time, seccomp is installed, and the vCPUs
// start only once the supervisor's kRestore (or kBoot) for one function arrived and was applied.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runner/seccomp/seccomp_filter.h"
#include "runner/vmm_config.h"

namespace snapfaas::runner {

/// One function of the supervisor's table (index = the kRestore/kBoot arg0). Plain values.
struct FunctionImage {
  std::string name;
  std::vector<std::string> snapshot_dirs;  ///< base[,diff...]; empty: the function boots the --kernel
  std::string appfs;                       ///< app image (Linux guests), empty for none
  bool copy_base = false;
  bool copy_diff = false;
};

/// Reads the table the supervisor writes: {"functions": [{"name", "snapshot_dirs", "appfs",
/// "copy_base", "copy_diff"}, ...]} (nlohmann/json). Throws common::Error naming file and field.
[[nodiscard]] std::vector<FunctionImage> read_function_table(const std::string& path);

/// Hidden test hooks (`firerunner --test_hook NAME[:FUNCTION]`), never for production use:
///   forbidden_syscall[:F]  after the VMM filter is installed (on the load of F when given), call
///                          socket(2), which no role allows: the process must die with SIGSYS;
///   stall_on_load:F        sleep 60 s on receiving the load of F, before restoring (the supervisor's
///                          --deadline then kills the runner mid-restore).
struct TestHook {
  std::string name;            ///< empty: none
  std::int64_t function = -1;  ///< -1: any / not tied to a load
  /// Parses NAME[:F]; throws common::Error on an unknown name.
  [[nodiscard]] static TestHook parse(const std::string& spec);
  /// Runs the hook if it is `name` and `function` matches (or is -1).
  void fire(const char* name, std::int64_t loading) const;
};

struct RestoreServerConfig {
  VmmConfig vmm;
  std::string channel;
  std::string functions_file;
  SeccompSettings seccomp;
  TestHook test_hook;
};

/// The whole pre-spawned lifetime: build, wait for the load command on the control ring, restore
/// (or boot), reply, run the VM. Returns the process exit status: the VM's, 0 after a kShutdown
/// before any load, 1 after a failed restore (answered with an errno-style status first: a VM
/// half-restored is not reusable). Throws common::Error for setup failures.
[[nodiscard]] int run_restore_server(const RestoreServerConfig& config);

}  // namespace snapfaas::runner
