// RunnerCgroups: one cgroup v2 leaf per runner under a directory of the supervisor's own
// (<own cgroup>/snapfaas-<pid>/runner-<id>), with memory.max, pids.max and optionally cpu.max. The
// jailer clones each runner straight into its leaf (clone3 with CLONE_INTO_CGROUP), so the runner
// runs no instruction outside its limits. Where the host has no cgroup v2 hierarchy with the
// memory and pids controllers (a v1 or hybrid host, as this project's machines), it says so once
// in the log and does nothing.
#pragma once

#include <cstdint>
#include <string>

#include "common/unique_fd.h"

namespace snapfaas::supervisor {

struct CgroupLimits {
  std::uint64_t memory_max_bytes = 0;  ///< memory.max (0: "max")
  std::uint64_t pids_max = 0;          ///< pids.max (0: "max")
  std::uint32_t cpu_percent = 0;       ///< cpu.max quota as a percentage of one CPU (0: none)
};

/// Single-threaded use by the jailer.
class RunnerCgroups {
 public:
  /// `root`: where cgroup2 is mounted. Detects v2 with memory and pids for this process's own
  /// cgroup (/proc/self/cgroup "0::"), enables them for a directory snapfaas-<pid> of its own. A
  /// cgroup that holds processes cannot hand controllers to children (the "no internal processes"
  /// rule): the supervisor then moves itself into a leaf "supervisor" first. Logs once what it set
  /// up, or why not. Never throws.
  explicit RunnerCgroups(CgroupLimits limits, std::string root = "/sys/fs/cgroup");
  /// Removes the runner leaves (their processes must be gone) and the directory.
  ~RunnerCgroups();
  RunnerCgroups(const RunnerCgroups&) = delete;
  RunnerCgroups& operator=(const RunnerCgroups&) = delete;

  [[nodiscard]] bool enabled() const noexcept { return !dir_.empty(); }
  [[nodiscard]] const std::string& dir() const noexcept { return dir_; }
  /// Runner `runner_id`'s leaf (created with the limits on first use), opened as clone3 wants it
  /// for CLONE_INTO_CGROUP. Invalid when disabled. Throws common::Error when the leaf cannot be
  /// made or limited (a runner must not start unlimited where limits were asked for).
  [[nodiscard]] common::UniqueFd leaf(unsigned runner_id);
  [[nodiscard]] std::string leaf_path(unsigned runner_id) const;

 private:
  CgroupLimits limits_;
  std::string root_;
  std::string dir_;  // <root><own>/snapfaas-<pid>; empty when disabled
};

}  // namespace snapfaas::supervisor
