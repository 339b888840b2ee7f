// The round-trip benchmark harness bench_ring_rtt and bench_request_rtt share: a Peer interface,
// series measured in interleaved rounds (so background load hits every case alike), percentiles,
// the printed table, the per-series JSON keys and the machine description.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <cstddef>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace snapfaas::bench {

/// One client/server pair. round_trip() sends one request and returns its latency in µs (throws on a
/// wrong answer); stop() ends the server and throws if it failed. Single-threaded use.
class Peer {
 public:
  virtual ~Peer() = default;
  virtual double round_trip() = 0;
  virtual void stop() = 0;
};

/// One measured case: `mode` names it in the table and in the JSON keys (MODE_p50_us_SIZE, ...).
struct Series {
  std::string mode;
  std::size_t size = 0;
  int iterations = 0;
  bool pin_client = false;  ///< run this series' rounds with the client pinned to CPU 0
  std::unique_ptr<Peer> peer;
  std::vector<double> us;
};

/// Restricts the calling thread (and what it later forks) to `cpu`; cpu < 0 allows every CPU.
void pin_to(int cpu);

[[noreturn]] void throw_fork_error();

/// Runs `body` in a fork()ed child that _exit()s with its return value (an exception → 99).
template <typename F>
pid_t fork_child(F&& body);

/// Waits for `pid`; true when it exited with status 0.
[[nodiscard]] bool child_succeeded(pid_t pid);

/// read()/write() exactly n bytes; false on EOF or error.
[[nodiscard]] bool read_full(int fd, void* buf, std::size_t n);
[[nodiscard]] bool write_full(int fd, const void* buf, std::size_t n);

/// "64B", "1KiB", "64KiB".
[[nodiscard]] std::string size_label(std::size_t size);
/// The p-quantile (0..1) of `v` (nearest rank). `v` must not be empty.
[[nodiscard]] double percentile(std::vector<double> v, double p);
/// Cores, CPU model, kernel, KVM kind (pvm or not) and the 1-minute load average.
[[nodiscard]] nlohmann::json machine_info();

/// Warms every series up (`warmup` round trips), then measures `rounds` interleaved rounds of
/// iterations / rounds round trips each, then stops every peer.
void run_interleaved(std::vector<Series>& series, int warmup, int rounds);

/// Prints the p50/p99/mean table and stores MODE_{p50,p99,mean}_us_SIZE and iterations_SIZE in `j`.
void report_series(const std::vector<Series>& series, nlohmann::json& j);

/// Writes `j` to `path` (nothing when empty); throws common::Error on failure.
void write_json(const std::string& path, const nlohmann::json& j);

template <typename F>
pid_t fork_child(F&& body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    int code = 99;
    try {
      code = body();
    } catch (...) {
    }
    ::_exit(code);
  }
  if (pid < 0) throw_fork_error();
  return pid;
}

}  // namespace snapfaas::bench
