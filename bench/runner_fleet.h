// RunnerFleet (bench_density): N real firerunner processes, each restored from one base snapshot
// of the ring-3 echo guest (--load_dir, --channel of its own, seccomp on), each having served one
// request and parked; and a per-mapping breakdown of what each process holds (/proc/PID/smaps):
// the guest's RAM apart from the VMM process's own memory (binary, libraries, heap, stacks, ...).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace snapfaas::bench {

/// Rss, Pss, Private_Dirty in KiB.
struct MemFigures {
  double rss_kib = 0, pss_kib = 0, private_dirty_kib = 0;
  void add(const MemFigures& o) noexcept {
    rss_kib += o.rss_kib;
    pss_kib += o.pss_kib;
    private_dirty_kib += o.private_dirty_kib;
  }
};

/// One process's memory, by what its mappings hold. Categories: "guest_ram" (the snapshot's memory
/// file mappings and the anonymous parts of the guest's RAM range), "binary" (the executable),
/// "libraries" (shared objects and ld.so), "heap", "stack" (the main thread's), "anon" (other
/// anonymous memory: thread stacks, malloc arenas), "shm" (the channel), "kvm" (vcpu/vm anon inodes),
/// "other". `total` is the sum; `threads` from /proc/PID/status.
struct ProcessMemory {
  std::map<std::string, MemFigures> by_category;
  MemFigures total;
  int threads = 0;
  [[nodiscard]] MemFigures process_only() const;  ///< total minus guest_ram
};

/// Reads /proc/PID/smaps. `guest_file_dir`: the snapshot directory whose files map guest RAM;
/// `guest_bytes`: the guest RAM size (the range from the first such mapping, at most that long).
[[nodiscard]] ProcessMemory process_memory(pid_t pid, const std::string& binary, const std::string& guest_file_dir,
                                           std::uint64_t guest_bytes);

/// The firerunners. Owns their channels and processes; the destructor kills and reaps them.
class RunnerFleet {
 public:
  /// Dumps the base snapshot (`firerunner --dump_dir`) of the echo guest with `mem_mib` MiB into `dir`.
  RunnerFleet(std::string firerunner, std::string echo_guest, std::string dir, std::uint32_t mem_mib);
  ~RunnerFleet();
  RunnerFleet(const RunnerFleet&) = delete;
  RunnerFleet& operator=(const RunnerFleet&) = delete;

  /// Starts one more runner restoring the snapshot, sends it one request and checks the echo.
  /// Returns the milliseconds from spawn to the answer. Throws std::runtime_error.
  double add_one();
  [[nodiscard]] std::vector<pid_t> pids() const;
  [[nodiscard]] const std::string& snapshot() const noexcept { return snapshot_; }
  [[nodiscard]] const std::string& binary() const noexcept { return firerunner_; }
  /// Shuts every runner down (kShutdown), reaps them; throws if one exited with an error.
  void stop_all();

 private:
  struct Runner;
  std::string firerunner_, echo_guest_, snapshot_;
  std::uint32_t mem_mib_;
  std::vector<std::unique_ptr<Runner>> runners_;
};

}  // namespace snapfaas::bench
