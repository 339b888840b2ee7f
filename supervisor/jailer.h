// Jailer: starts one runner process in its own sandbox. The child gets new mount, pid, ipc, uts
// and net namespaces (or, with JailOptions::netns_prefix, the runner's own named network namespace
// /run/netns/<prefix><runner_id> made by scripts/setup-network.sh, plus a /dev/net/tun node for its
// tap); a session of its own (setsid); a fresh tmpfs root holding only the runner binary and the
// libraries its ELF headers name (elf_libraries.h), read-only bind mounts of the images and
// snapshots it may use (jail_contents.h), a /dev/kvm node of its own, /dev/null, and /proc with
// only its own pids (subset=pid,hidepid=invisible); RLIMIT_NOFILE, RLIMIT_NPROC, no core dumps;
// cgroup v2 memory/cpu limits where the host delegates them; a uid/gid of its own (uid_base + runner
// id: no two runners share one); no inherited fds beyond stdin/stdout/stderr and its channel (a
// sealed memfd, no name anywhere).
#pragma once

#include <sched.h>
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "supervisor/runner_cgroups.h"

namespace snapfaas::supervisor {

struct JailOptions {
  bool enabled = true;          ///< false: plain fork+exec (no namespaces, no uid change)
  std::string base_dir;         ///< per-runner mount points are created under it (default /tmp/snapfaas-jail-<pid>)
  /// Runner i runs as uid_base + i, gid_base + i: a runner can signal, ptrace or open the files of
  /// no other (scripts/setup-network.sh gives runner i's tap to the same uid).
  uid_t uid_base = 100000;
  gid_t gid_base = 100000;
  std::uint64_t memory_limit_bytes = 0;  ///< cgroup v2 memory.max per runner (0 = none)
  std::uint64_t pids_limit = 64;         ///< cgroup v2 pids.max per runner (0 = none)
  std::uint32_t cpu_percent = 0;         ///< cgroup v2 cpu.max per runner (0 = none)
  std::uint64_t max_open_files = 1024;   ///< RLIMIT_NOFILE (a pre-spawned runner holds ~5 per function)
  std::uint64_t max_processes = 64;      ///< RLIMIT_NPROC of the runner's uid (threads count: ~6 used)
  /// How the jail gets its /dev/kvm (and /dev/net/tun): a node of its own (mknod, owned by the
  /// runner), or — where mknod is refused (a device cgroup) or for tests — the host's node
  /// bind-mounted, usable through its group (the runner gets the node's group as a supplementary
  /// group); the host node's owner and mode are never changed.
  bool mknod_devices = true;
  /// Non-empty: runner i joins the network namespace /run/netns/<netns_prefix><i> (setns, instead
  /// of a new empty one) and its jail gets a /dev/net/tun node; empty: a new, empty namespace.
  std::string netns_prefix;
  /// true: every runner runs on `cpus` only (--runner_cpus; cpu_placement.h), set in the child
  /// before execve.
  bool pin_cpus = false;
  cpu_set_t cpus{};
};

/// The named network namespace runner `runner_id` joins with `prefix` ("/run/netns/<prefix><id>").
[[nodiscard]] std::string netns_path(const std::string& prefix, unsigned runner_id);

/// Throws common::Error with one clear line when a runner in [0, runners) has no network namespace
/// under `prefix`: it names the missing path and the command that makes them
/// (scripts/setup-network.sh <runners>). No-op for an empty prefix.
void check_network_namespaces(const std::string& prefix, unsigned runners);

/// Who a runner runs as.
struct RunnerIdentity {
  uid_t uid = 0;
  gid_t gid = 0;
};

/// The descriptor number a runner finds its channel at (JailSpec::channel_fd): --channel fd:3.
inline constexpr int kChannelFd = 3;

/// One process to start.
struct JailSpec {
  std::string binary;
  std::vector<std::string> args;        ///< argv[1..]
  std::vector<std::string> read_only;   ///< host paths bind-mounted read-only at the same path
  std::string hostname = "runner";
  int channel_fd = -1;  ///< >= 0: the runner's channel (a sealed memfd), handed over as descriptor kChannelFd
  /// >= 0: becomes the runner's stdout (its guest console: supervisor/console_log.h); stdin is
  /// /dev/null. -1: stdout is inherited.
  int console_fd = -1;
};

/// Creates the jails; single-threaded use by the supervisor. Holds the per-binary library lists
/// and the runners' cgroups (runner_cgroups.h; removed on destruction).
class Jailer {
 public:
  /// Sets up the runners' cgroups where the host has cgroup v2 (logs once when it has not). Throws
  /// common::Error when the base directory cannot be created.
  explicit Jailer(JailOptions options);
  Jailer(const Jailer&) = delete;
  Jailer& operator=(const Jailer&) = delete;
  ~Jailer();

  /// Starts `spec` (jailed when enabled) and returns its pid (in our pid namespace). With cgroups
  /// the child is cloned into runner `runner_id`'s cgroup (clone3, CLONE_INTO_CGROUP). The child
  /// reports setup failures on stderr and exits 127. Throws common::Error when clone fails, the
  /// runner's cgroup cannot be set up or its network namespace (netns_prefix) is missing.
  [[nodiscard]] pid_t spawn(const JailSpec& spec, unsigned runner_id);

  [[nodiscard]] const JailOptions& options() const noexcept { return options_; }
  /// The uid/gid runner `runner_id` runs as (its channel is given to it).
  [[nodiscard]] RunnerIdentity identity(unsigned runner_id) const noexcept;
  [[nodiscard]] bool cgroups_enabled() const noexcept { return cgroups_ && cgroups_->enabled(); }
  /// Runner `runner_id`'s cgroup directory ("" without cgroups).
  [[nodiscard]] std::string cgroup_of(unsigned runner_id) const;
  /// The interpreter and shared libraries `binary` loads (elf_libraries), cached.
  [[nodiscard]] const std::vector<std::string>& libraries(const std::string& binary);

 private:
  JailOptions options_;
  std::map<std::string, std::vector<std::string>> libraries_;
  std::optional<RunnerCgroups> cgroups_;
};

}  // namespace snapfaas::supervisor
