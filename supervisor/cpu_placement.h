// CpuPlacement: which CPUs the supervisor's own threads (the event loop, the HTTP threads) and
// its runners (their vCPU threads) may run on (--supervisor_cpus, --runner_cpus). The loop and a
// runner's vCPU each poll the other's ring for a while before they park (ipc/adaptive_spin.h):
// on one core, each spin holds the CPU the other needs to answer. With few cores (2 here), the
// scheduler often leaves them there for good, since threads that spin never sleep and so are
// never placed again: bench http measured 13-15k requests/s at 64 connections with the loop and
// the vCPU on one core, 55-68k with them on separate ones. Firecracker deployments pin the VMM and
// vCPU threads the same way (cpusets). Runners get theirs in the jailer's child, before execve;
// their seccomp filter has no sched_setaffinity, so a runner cannot leave it.
#pragma once

#include <sched.h>

#include <string>
#include <string_view>

namespace snapfaas::supervisor {

/// A parsed CPU list ("0", "1-3", "0,2-3"), each CPU one this process may run on.
struct CpuList {
  cpu_set_t set{};
  std::string text;  ///< normalised, e.g. "0-1,3"
};

/// Parses `text` for option `option` (named in errors). Throws common::Error with one line: a
/// malformed list, or a CPU this process may not use (its sched_getaffinity set, which it names).
[[nodiscard]] CpuList parse_cpu_list(std::string_view text, std::string_view option);

/// The CPUs this process may run on now (sched_getaffinity).
[[nodiscard]] CpuList current_cpus();

/// "0-1,3" for a set.
[[nodiscard]] std::string format_cpu_list(const cpu_set_t& set);

/// Pins the calling thread (and so every thread it starts afterwards) to `cpus`. Throws
/// common::Error on failure.
void pin_this_thread(const CpuList& cpus);

}  // namespace snapfaas::supervisor
