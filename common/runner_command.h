// RunnerCommand: firerunner's command line, spelled in one place. firerunner parses it
// (add_runner_options), snapfaas-supervisor and fc_wrapper build it (runner_args); a flag added
// here exists for all three.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace snapfaas::common {

/// The guest's eth0 with --network unless --guest_address says otherwise (ADDR/PREFIX,GATEWAY).
inline constexpr const char* kDefaultGuestAddress = "172.16.0.2/30,172.16.0.1";

/// Every firerunner flag as a plain value (defaults = what firerunner does without the flag).
struct RunnerCommand {
  std::string kernel;         ///< --kernel: vmlinux or ring-3 guest ELF (required)
  std::string rootfs;         ///< --rootfs: /dev/vda image
  bool rootfs_rw = false;     ///< --rootfs_rw
  bool direct_io = false;     ///< --direct_io: disk images with O_DIRECT
  std::string appfs;          ///< --appfs: /dev/vdb image (read-only)
  std::uint64_t mem_mib = 128;     ///< --mem_size
  std::uint32_t vcpu_count = 1;    ///< --vcpu_count
  std::string kernel_args;    ///< --kernel_args: appended to the default Linux command line
  std::string console;        ///< --console: guest console to FILE instead of stdout
  bool ring3 = false;         ///< --ring3: start the ELF at CPL3 with IOPL=3
  double timeout_s = 0;       ///< --timeout: stop with an error after S seconds (0: none)
  std::string network;        ///< --network TAP/MAC: virtio-net on that tap
  std::string guest_address = kDefaultGuestAddress;  ///< --guest_address (with --network)
  std::string channel;        ///< --channel NAME: serve that ipc channel through the ring window
  std::string log_level;      ///< --log-level
  std::string dump_dir;       ///< --dump_dir (alias --snapshot-out): save at the snapshot point, exit
  std::vector<std::string> load_dirs;  ///< --load_dir base[,diff...]: restore instead of booting
  std::vector<std::string> diff_dirs;  ///< --diff_dirs (the seed's spelling): layers after load_dirs
  bool copy_base = false;     ///< --copy_base: read the base into anonymous memory
  bool copy_diff = false;     ///< --copy_diff: the same for diffs
  bool verify_memory = false; ///< --verify_memory: CRC-check every memory layer at load (reads whole files)
  std::string dump_ws;        ///< --dump_ws FILE: record the restored guest's working set on ipc kDumpWorkingSet
  std::string load_ws;        ///< --load_ws FILE: prefetch that working set at the restore
  std::string functions;      ///< --functions FILE: pre-spawned mode (ipc/function_table.h)
  bool allow_writable_header = false;  ///< --allow_writable_header: KVM refusing a read-only window header
                                      ///< page does not stop the runner (debugging only)
  bool no_seccomp = false;    ///< --no_seccomp (debugging only)
  bool seccomp_log = false;   ///< --seccomp_log (hidden: log instead of kill, to find syscall needs)

  /// load_dirs then diff_dirs: the snapshot layers to restore, base first.
  [[nodiscard]] std::vector<std::string> snapshot_layers() const;
  bool operator==(const RunnerCommand&) const = default;
};

/// Which flags add_runner_options registers.
enum class RunnerFlags {
  kAll,        ///< firerunner's own command line
  kVmOnly,     ///< all but --channel and --functions (fc_wrapper: it makes the channel itself)
};

/// Registers the flags on `app`, writing into `command` (which must outlive the parse).
void add_runner_options(CLI::App& app, RunnerCommand& command, RunnerFlags flags = RunnerFlags::kAll);

/// The arguments (argv[1..]) that make firerunner parse back `command`: only flags whose value
/// differs from the default, so the line stays readable in logs.
[[nodiscard]] std::vector<std::string> runner_args(const RunnerCommand& command);

}  // namespace snapfaas::common
