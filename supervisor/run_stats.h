// RunStats: what one supervisor run did — a record per request and per VM load, counters — and
// the JSON written from it (per-request result lines, the summary, the stats file at exit).
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "ipc/error_result.h"

namespace snapfaas::supervisor {

/// One request's outcome (times in ms since the start of the replay).
struct RequestRecord {
  std::uint64_t id = 0;
  std::string function;
  std::uint64_t user_id = 0;
  std::string status;  ///< "ok", "error" or "dropped"
  nlohmann::json error;  ///< null when ok, else {"type", "message", ...} (make_error, ipc/error_type.h)
  bool cold = false;
  std::int64_t runner = -1;
  double arrival_ms = 0;   ///< when it was submitted
  double dispatch_ms = 0;  ///< when it was sent to a runner (or loading started)
  double done_ms = 0;
  // A cold request's phases (ipc::kColdPhaseNames); negative: not measured.
  double loaded_ms = -1;       ///< the load's reply seen (restore done)
  double runner_load_ms = -1;  ///< the load as the runner timed it (ControlReply::value)
  double sent_ms = -1;         ///< the request pushed on the runner's ring
  double guest_ready_ms = -1;  ///< the runner answered the guest's first WAIT with it (RunnerTimes)
  double handler_ms = -1;      ///< the agent's duration_ns (guest clock, untrusted: display only)
  /// KVM's counts for the guest from the load to its first response (RunnerTimes; untrusted,
  /// display only): the page faults it took (first touches of the restored memory) and the exits.
  /// Negative: not measured (a kernel without vCPU statistics; set by RunStats::set_counts once
  /// the record is kept and the runner has published them).
  std::int64_t page_faults = -1;
  std::int64_t exits = -1;
  /// The restore record generation the guest said it had applied when it answered
  /// (ResponseDesc::restore_generation; untrusted, reported only): >= 1 for a restored clone whose
  /// agent reseeded, 0 for none (a boot, a runner that does not say).
  std::uint32_t restore_generation = 0;
  std::string response;    ///< the runner's response bytes
  [[nodiscard]] double latency_ms() const noexcept { return done_ms - arrival_ms; }
  /// The error's type name ("" when ok).
  [[nodiscard]] std::string error_type() const;
  /// A successful cold request's phases: queue, restore, resume, handler, response in ms
  /// (ipc::kColdPhaseNames order), each >= 0 and summing to latency_ms(). Without the runner's
  /// mark (guest_ready_ms < 0: the guest polled its ring and took the request without a WAIT
  /// exit) resume runs to the handler's start and response is 0.
  [[nodiscard]] std::optional<std::array<double, 5>> cold_phases_ms() const;
};

/// One VM created (a function loaded into a runner).
struct VmRecord {
  std::uint32_t runner = 0;
  std::string function;
  std::uint32_t memory_mib = 0;
  std::string kind;  ///< "restore" or "boot"
  double start_ms = 0;
  double end_ms = 0;
};

/// Single-threaded accumulator. Counts are exact; the per-request records behind the percentiles
/// and request_timestamps, and the per-VM records behind boot_timestamps, are the newest
/// record_limit ones each (a long-running service: --listen).
class RunStats {
 public:
  /// Keeps at most `limit` records (0: all, the default), dropping the oldest.
  void set_record_limit(std::size_t limit) noexcept { record_limit_ = limit; }
  void add_request(RequestRecord record);
  /// KVM's counts for request `id`, recorded already (they came after its response): sets its
  /// page_faults and exits. False when the record is no longer kept.
  bool set_counts(std::uint64_t id, std::int64_t page_faults, std::int64_t exits);
  void add_vm(VmRecord record);
  void count_eviction() noexcept { ++evictions_; }
  void count_runner_failure() noexcept { ++runner_failures_; }
  /// Where each runner slot's console log is (stats JSON "consoles").
  void set_consoles(std::vector<std::string> paths) { consoles_ = std::move(paths); }
  void set_not_submitted(std::uint64_t n) noexcept { not_submitted_ = n; }
  /// The supervisor's own CPU time (user + system) and wall time while its event loop ran.
  void set_loop_times(double cpu_ms, double wall_ms) noexcept {
    loop_cpu_ms_ = cpu_ms;
    loop_wall_ms_ = wall_ms;
  }

  [[nodiscard]] const std::deque<RequestRecord>& requests() const noexcept { return requests_; }
  [[nodiscard]] const std::deque<VmRecord>& vms() const noexcept { return vms_; }
  [[nodiscard]] std::uint64_t evictions() const noexcept { return evictions_; }
  [[nodiscard]] std::uint64_t count(std::string_view status) const noexcept;
  [[nodiscard]] std::uint64_t cold() const noexcept;
  [[nodiscard]] std::uint64_t warm() const noexcept;
  /// Latency percentile (0..100, nearest rank) of the "ok" requests kept, optionally only cold or warm.
  [[nodiscard]] double latency_percentile(double p, int cold_filter = -1) const;
  /// {"measured": N, "p50_ms": {phase: ms}, "mean_ms": {phase: ms}} over the successful cold
  /// requests kept whose phases were measured (p50 of each phase on its own).
  [[nodiscard]] nlohmann::json cold_phases() const;

  /// {"requests", "completed", "errors", "dropped", "cold", "warm", "evictions", "p50_ms", "p99_ms",
  ///  "error_types": {type: count}, ...}
  [[nodiscard]] nlohmann::json summary() const;
  /// summary + console log paths ("consoles", by runner slot), VMs created, VM memory sizes, boot/restore timestamps, per-request timestamps, the
  /// event loop's CPU and wall time (loop_cpu_ms, loop_wall_ms).
  [[nodiscard]] nlohmann::json full() const;

 private:
  std::deque<RequestRecord> requests_;
  std::size_t record_limit_ = 0;
  std::uint64_t requests_total_ = 0;
  std::map<std::string, std::uint64_t, std::less<>> by_status_;
  std::map<std::string, std::uint64_t> by_error_type_;
  std::uint64_t cold_ok_ = 0;
  std::uint64_t warm_ok_ = 0;
  std::deque<VmRecord> vms_;
  std::uint64_t vms_total_ = 0;
  std::uint64_t restores_ = 0;
  std::uint64_t boots_ = 0;
  std::uint64_t evictions_ = 0;
  std::uint64_t runner_failures_ = 0;
  std::uint64_t not_submitted_ = 0;
  std::vector<std::string> consoles_;
  double loop_cpu_ms_ = 0;
  double loop_wall_ms_ = 0;
};

/// The result line of one request: function, status, cold/warm, latency, response (parsed when JSON).
[[nodiscard]] nlohmann::json to_json(const RequestRecord& record);

}  // namespace snapfaas::supervisor
