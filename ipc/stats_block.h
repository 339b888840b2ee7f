// The stats block: a shared-memory object the supervisor owns with its counters — totals (queue
// depth, in flight, loads, evictions, failures, draining), one entry per runner (state, function,
// counters, latency histogram) and one per function (requests by outcome, cold/warm, in flight,
// latency histogram and sum). Single writer (StatsWriter, the supervisor's event loop), any number
// of read-only readers (StatsReader: snapfaas-stat in another process, the supervisor's /metrics
// on its HTTP thread); a seqlock per entry gives readers consistent snapshots. The block names its
// outcomes (index 0 is success) so that readers need not know the writer's error vocabulary.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "ipc/ipc_error.h"
#include "ipc/shm_object.h"

namespace snapfaas::ipc {

inline constexpr std::uint64_t kStatsMagic = 0x4154534650414E53ULL;  // "SNAPFSTA" little-endian
inline constexpr std::uint32_t kStatsVersion = 5;  // 2: console_dir in the header; 3: totals, functions; 4: cold phases; 5: cold KVM counts
inline constexpr std::uint32_t kMaxStatsRunners = 4096;
inline constexpr std::uint32_t kMaxStatsFunctions = 4096;
inline constexpr std::size_t kFunctionNameSize = 48;  // bytes including the terminating NUL
inline constexpr std::size_t kConsoleDirSize = 256;   // bytes including the terminating NUL
inline constexpr std::size_t kLatencyBuckets = 32;    // bucket b: [2^b, 2^(b+1)) µs; bucket 0 also 0 µs
inline constexpr std::size_t kMaxOutcomes = 16;       // outcome 0 is success, the others errors
inline constexpr std::size_t kOutcomeNameSize = 24;   // bytes including the terminating NUL

/// Where a cold request's time goes, in order (the supervisor's clock, plus the runner's
/// RunnerTimes, ipc/runner_times.h): queue = arrival -> load command sent; restore = -> the load's
/// reply seen (the runner's restore proper and the reply's way back); resume = -> the runner
/// answers the guest's first WAIT with the request (request sent, guest resumed: restore record
/// applied, runtime reseeded, its first page faults; when the guest takes it by polling its ring,
/// without that WAIT exit, resume runs to the handler's start and response is 0); handler = the function's own time as the
/// guest agent reports it (duration_ns); response = the rest until the supervisor has the response
/// (agent around the handler, response doorbell, supervisor wake-up).
inline constexpr std::size_t kColdPhases = 5;
inline constexpr const char* kColdPhaseNames[kColdPhases] = {"queue", "restore", "resume", "handler", "response"};

/// Where a runner slot is in its life: the one vocabulary of the supervisor's event loop
/// (RunnerProcess::state), its scheduler (a subset) and snapfaas-stat (this block).
enum class RunnerState : std::uint32_t {
  kEmpty = 0,  ///< process up, VM ready, no function loaded (a cold start can take it)
  kStarting,   ///< process spawned, waiting for its ready ping
  kIdle,       ///< holds a function, waiting for a request (warm)
  kBusy,       ///< serving one request
  kLoading,    ///< restoring (or booting) a function for a cold request
  kStopped,    ///< no process (spawn on demand, evicted, shut down)
  kFailed,     ///< killed after a fault; respawned next
};
inline constexpr std::uint32_t kRunnerStateCount = 7;

/// "empty", "starting", "idle", "busy", "loading", "stopped", "failed" ("?" out of range).
[[nodiscard]] const char* runner_state_name(RunnerState state) noexcept;

/// Block header at offset 0. Then StatsTotals, runner_count StatsEntry, function_count
/// StatsFunctionEntry, each at the offset the sizes here give (all multiples of 64).
struct StatsHeader {
  std::uint64_t magic;                // 0x00 written last at creation
  std::uint32_t version;              // 0x08
  std::uint32_t header_size;          // 0x0c sizeof(StatsHeader)
  std::uint32_t entry_size;           // 0x10 sizeof(StatsEntry)
  std::uint32_t runner_count;         // 0x14
  std::uint64_t total_size;           // 0x18
  std::uint32_t totals_size;          // 0x20 sizeof(StatsTotals)
  std::uint32_t function_entry_size;  // 0x24 sizeof(StatsFunctionEntry)
  std::uint32_t function_count;       // 0x28
  std::uint32_t outcome_count;        // 0x2c outcomes named in StatsTotals::outcome_names (1..kMaxOutcomes)
  std::uint8_t reserved[16];          // 0x30
  char console_dir[kConsoleDirSize];  // 0x40 runner i's guest console: <console_dir>/runner-<i>.log ("" = none)
};
static_assert(sizeof(StatsHeader) == 320 && sizeof(StatsHeader) % 64 == 0);

/// Whole-supervisor counters. Fields written by the supervisor only, with relaxed atomic stores
/// inside a seqlock write; outcome_names are written once before the header's magic.
struct alignas(64) StatsTotals {
  std::uint32_t seq;
  std::uint32_t draining;  // 1 once the supervisor stopped taking requests (SIGTERM)
  std::uint64_t queue_depth;
  std::uint64_t in_flight;
  std::uint64_t restores;
  std::uint64_t boots;
  std::uint64_t evictions;
  std::uint64_t runner_failures;
  std::uint64_t unattributed[kMaxOutcomes];  // requests naming no configured function, by outcome
  char outcome_names[kMaxOutcomes][kOutcomeNameSize];
};
static_assert(sizeof(StatsTotals) == 576);

/// One runner's entry. Every field is written by the supervisor only, with relaxed atomic stores
/// inside a seqlock write (seq odd while updating).
struct alignas(64) StatsEntry {
  std::uint32_t seq;    // seqlock sequence
  std::uint32_t state;  // RunnerState
  std::uint64_t requests;
  std::uint64_t cold;
  std::uint64_t warm;
  std::uint64_t errors;
  char function[kFunctionNameSize];
  std::uint64_t latency_us_log2[kLatencyBuckets];
};
static_assert(sizeof(StatsEntry) == 384);

/// One function's entry (name written once at creation). Latencies are from submission to answer.
struct alignas(64) StatsFunctionEntry {
  std::uint32_t seq;
  std::uint32_t in_flight;  // submitted, not yet answered
  char name[kFunctionNameSize];
  std::uint64_t requests;
  std::uint64_t cold;  // of the requests that reached a VM
  std::uint64_t warm;
  std::uint64_t latency_us_sum;
  std::uint64_t outcomes[kMaxOutcomes];
  std::uint64_t latency_us_log2[kLatencyBuckets];
  std::uint64_t cold_timed;                       // cold requests whose phases are summed below
  std::uint64_t cold_phase_us_sum[kColdPhases];   // by kColdPhaseNames
  std::uint64_t cold_counted;                     // cold requests whose KVM counts are summed below
  std::uint64_t cold_page_faults_sum;             // KVM page faults, load -> first response
  std::uint64_t cold_exits_sum;                   // VM exits, load -> first response
};
static_assert(sizeof(StatsFunctionEntry) == 576);
static_assert(std::is_standard_layout_v<StatsEntry> && std::is_trivially_copyable_v<StatsEntry>);
static_assert(std::is_standard_layout_v<StatsTotals> && std::is_trivially_copyable_v<StatsTotals>);
static_assert(std::is_standard_layout_v<StatsFunctionEntry> && std::is_trivially_copyable_v<StatsFunctionEntry>);

using LatencyHistogram = std::array<std::uint64_t, kLatencyBuckets>;

/// A consistent copy of one runner entry (plain values).
struct StatsSnapshot {
  RunnerState state = RunnerState::kEmpty;
  std::array<char, kFunctionNameSize> function{};  ///< NUL-terminated
  std::uint64_t requests = 0;
  std::uint64_t cold = 0;
  std::uint64_t warm = 0;
  std::uint64_t errors = 0;
  LatencyHistogram latency_us_log2{};

  [[nodiscard]] std::string_view function_name() const noexcept { return function.data(); }
};

/// A consistent copy of the totals (plain values; outcome names are StatsReader::outcome_names()).
struct StatsTotalsSnapshot {
  bool draining = false;
  std::uint64_t queue_depth = 0;
  std::uint64_t in_flight = 0;
  std::uint64_t restores = 0;
  std::uint64_t boots = 0;
  std::uint64_t evictions = 0;
  std::uint64_t runner_failures = 0;
  std::array<std::uint64_t, kMaxOutcomes> unattributed{};
};

/// A consistent copy of one function entry (plain values).
struct StatsFunctionSnapshot {
  std::array<char, kFunctionNameSize> name{};  ///< NUL-terminated
  std::uint64_t in_flight = 0;
  std::uint64_t requests = 0;
  std::uint64_t cold = 0;
  std::uint64_t warm = 0;
  std::uint64_t latency_us_sum = 0;
  std::array<std::uint64_t, kMaxOutcomes> outcomes{};
  LatencyHistogram latency_us_log2{};
  std::uint64_t cold_timed = 0;
  std::array<std::uint64_t, kColdPhases> cold_phase_us_sum{};
  std::uint64_t cold_counted = 0;
  std::uint64_t cold_page_faults_sum = 0;
  std::uint64_t cold_exits_sum = 0;

  [[nodiscard]] std::string_view function_name() const noexcept { return name.data(); }
};

/// Histogram bucket of a latency: floor(log2(us)), 0 for 0 µs, capped at the last bucket.
[[nodiscard]] std::size_t latency_bucket(std::uint64_t latency_us) noexcept;

/// What the block is sized for: runners, function names (cut to kFunctionNameSize - 1 bytes) and
/// outcome names (1..kMaxOutcomes, index 0 = success, cut to kOutcomeNameSize - 1 bytes); where
/// the runners' console logs are (cut to kConsoleDirSize - 1 bytes; "" = not kept).
struct StatsShape {
  std::uint32_t runners = 0;
  std::vector<std::string> functions;
  std::vector<std::string> outcomes{"ok", "error"};
  std::string console_dir;
};

/// One answered request as the block counts it.
struct RequestSample {
  std::int64_t runner = -1;    ///< runner that served it; -1: none (dropped, refused)
  std::int64_t function = -1;  ///< function index; -1: not a configured function
  bool cold = false;           ///< meaningful only with a runner
  std::uint32_t outcome = 0;   ///< index into the outcome names (0 = success); out of range: the last
  std::uint64_t latency_us = 0;
  bool cold_timed = false;  ///< a successful cold request whose phases were measured (cold_phase_us)
  std::array<std::uint64_t, kColdPhases> cold_phase_us{};
};

/// The supervisor's end: creates and owns the object. One writer thread only.
class StatsWriter {
 public:
  /// Throws common::Error (name exists, runner count 0 or > kMaxStatsRunners, more than
  /// kMaxStatsFunctions functions, outcome count 0 or > kMaxOutcomes, ...).
  [[nodiscard]] static StatsWriter create(std::string_view name, const StatsShape& shape);

  [[nodiscard]] std::uint32_t runner_count() const noexcept { return runner_count_; }
  [[nodiscard]] std::uint32_t function_count() const noexcept { return function_count_; }
  [[nodiscard]] const ShmObject& shm() const noexcept { return shm_; }
  /// create() found this process's own name (stats_object_name(getpid())) left by a dead process
  /// with the same pid and replaced it.
  [[nodiscard]] bool replaced_stale() const noexcept { return replaced_stale_; }

  // Each call is one seqlock write per entry it touches; out-of-range indices are ignored (false).
  bool set_state(std::uint32_t runner, RunnerState state) noexcept;
  /// Stores `function`, cut to kFunctionNameSize - 1 bytes.
  bool set_function(std::uint32_t runner, std::string_view function) noexcept;
  /// Counts one answered request in its runner's entry (requests, cold or warm, errors when
  /// outcome != 0, histogram), its function's entry (requests, outcome, cold/warm when it ran,
  /// histogram, sum, cold phases when cold_timed) or the totals' unattributed outcomes when it
  /// names no function.
  void record_request(const RequestSample& sample) noexcept;
  /// KVM's counts for one successful cold request of `function`, from the load to its first
  /// response (they may come after the request was recorded): cold_counted and the two sums.
  bool record_cold_counts(std::uint32_t function, std::uint64_t page_faults, std::uint64_t exits) noexcept;
  /// A request of `function` was submitted (+1) or answered (-1).
  bool add_in_flight(std::uint32_t function, int delta) noexcept;
  void count_load(bool restore) noexcept;
  void count_eviction() noexcept;
  void count_runner_failure() noexcept;
  /// Queue depth and requests in flight (submitted, unanswered); no write when both are unchanged.
  void set_load(std::uint64_t queue_depth, std::uint64_t in_flight) noexcept;
  void set_draining(bool draining) noexcept;

 private:
  StatsWriter(ShmObject shm, std::uint32_t runner_count, std::uint32_t function_count) noexcept;
  [[nodiscard]] StatsTotals& totals() const noexcept;
  [[nodiscard]] StatsEntry* entry(std::uint32_t runner) const noexcept;
  [[nodiscard]] StatsFunctionEntry* function_entry(std::uint32_t function) const noexcept;

  ShmObject shm_;
  std::uint32_t runner_count_ = 0;
  std::uint32_t function_count_ = 0;
  std::uint32_t outcome_count_ = 0;
  bool replaced_stale_ = false;
  std::uint64_t last_queue_depth_ = ~std::uint64_t{0};
  std::uint64_t last_in_flight_ = ~std::uint64_t{0};
};

/// A reader in any process or thread: maps the object read-only and validates its header once
/// (outcome names are copied then). Const methods may be called from several threads.
class StatsReader {
 public:
  /// Throws common::Error when the object is missing or its header is invalid.
  [[nodiscard]] static StatsReader open(std::string_view name);

  [[nodiscard]] std::uint32_t runner_count() const noexcept { return runner_count_; }
  [[nodiscard]] std::uint32_t function_count() const noexcept { return function_count_; }
  [[nodiscard]] const std::vector<std::string>& outcome_names() const noexcept { return outcome_names_; }
  /// Where the runners' console logs are ("" = not kept): runner i's is <dir>/runner-<i>.log.
  [[nodiscard]] const std::string& console_dir() const noexcept { return console_dir_; }
  /// A consistent snapshot of entry `runner` (kEntryOutOfRange; kBusy if the writer never left it).
  [[nodiscard]] Result<StatsSnapshot> snapshot(std::uint32_t runner) const noexcept;
  [[nodiscard]] Result<StatsFunctionSnapshot> function(std::uint32_t function) const noexcept;
  [[nodiscard]] Result<StatsTotalsSnapshot> totals() const noexcept;

 private:
  StatsReader(ShmObject shm, const StatsHeader& header, std::vector<std::string> outcomes) noexcept;

  ShmObject shm_;
  std::uint32_t runner_count_ = 0;
  std::uint32_t function_count_ = 0;
  std::vector<std::string> outcome_names_;
  std::string console_dir_;
};

}  // namespace snapfaas::ipc
