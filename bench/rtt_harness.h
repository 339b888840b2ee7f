// The round-trip benchmark harness bench_ring_rtt and bench_request_rtt share: a Peer interface,
// the Unix-socket baseline peer, series measured in interleaved rounds (so background load hits
// every case alike), percentiles, the printed table, the per-series JSON keys, the machine
// description and main()'s command line and error handling.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "common/unique_fd.h"

namespace snapfaas::bench {

/// The largest payload, and the payload sizes every case is measured at (both benchmarks alike).
inline constexpr std::size_t kMaxPayload = 64 * 1024;
inline constexpr std::array<std::size_t, 3> kPayloadSizes = {64, 1024, kMaxPayload};

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
  /// Idle time before each round trip, not part of its latency (0: back to back). Below
  /// kSleepGapMinUs the client busy-waits it (a sleep that short would oversleep by the timer
  /// slack); from there on it sleeps, as an idle supervisor does.
  int gap_us = 0;
};

inline constexpr int kSleepGapMinUs = 200;

/// Waits `gap_us` µs as Series::gap_us says (busy below kSleepGapMinUs, else a sleep).
void idle_gap(int gap_us);

/// The Unix-domain-socket baseline (the socket path SnapFaaS used): a fork()ed server answering
/// 4-byte-length-prefixed requests on a socketpair; a zero length ends it. A subclass gives the
/// server's work (answer) and the client's check, and calls start() last in its constructor.
/// Single-threaded use; the server is a separate process.
class UnixPeer : public Peer {
 public:
  /// Sends the request and reads the whole response (common::Error on a short or mis-sized one),
  /// then check()s it; the latency excludes the check.
  double round_trip() final;
  /// Sends the zero length; throws common::Error when the server did not exit with 0.
  void stop() final;

 protected:
  /// `payload`: the request body sent on every round trip; `response_size`: the answer's length.
  /// The server reads request bodies of up to kMaxPayload bytes.
  UnixPeer(std::vector<std::uint8_t> payload, std::size_t response_size);
  /// Forks the server, which calls answer() for each request.
  void start();
  /// The request body sent on every round trip.
  [[nodiscard]] std::span<const std::uint8_t> payload() const noexcept;
  /// Server side (in the child): `frame` is 4 spare bytes, then one request body. Returns the framed
  /// response (4-byte length, then the body), which may be `frame` itself.
  virtual std::span<const std::uint8_t> answer(std::span<std::uint8_t> frame) = 0;
  /// Client side: throws common::Error when `response` (response_size bytes) is wrong.
  virtual void check(std::span<const std::uint8_t> response) const = 0;

 private:
  common::UniqueFd fd_;
  common::UniqueFd server_fd_;  // the server's end, held until start() has forked
  std::vector<std::uint8_t> request_;  // 4-byte length, then the payload
  std::vector<std::uint8_t> response_;
  pid_t child_ = 0;
};

/// Restricts the calling thread (and what it later forks) to `cpu`; cpu < 0 allows every CPU.
void pin_to(int cpu);

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
void run_interleaved(std::vector<Series>& series, int warmup, int rounds = 10);

/// Prints the p50/p99/mean table and stores MODE_{p50,p99,mean}_us_SIZE and iterations_SIZE in `j`.
void report_series(const std::vector<Series>& series, nlohmann::json& j);

/// Writes `j` to `path` (nothing when empty); throws common::Error on failure.
void write_json(const std::string& path, const nlohmann::json& j);

/// A round-trip benchmark's name (bench_NAME; the JSON "benchmark"), its --help line and the help of
/// its --quick flag.
struct BenchInfo {
  const char* name;
  const char* description;
  const char* quick_help;
};

/// main() of a round-trip benchmark: parses --out FILE.json and --quick, sets "benchmark" and
/// "quick", runs `body(quick, figures)` and writes the figures to --out. Returns the exit code: 0,
/// CLI11's for a bad command line, 1 after an exception (one line "bench_NAME: what" on stderr).
int rtt_main(int argc, char** argv, const BenchInfo& info,
             const std::function<void(bool quick, nlohmann::json& figures)>& body);

}  // namespace snapfaas::bench
