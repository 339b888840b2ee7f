// The stats block: a shared-memory object the supervisor owns with one entry per runner (state,
// function, counters, latency histogram). Single writer (StatsWriter, the supervisor), any number
// of read-only readers in other processes (StatsReader, snapfaas-stat); a seqlock per entry gives
// readers consistent snapshots.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include "ipc/ipc_error.h"
#include "ipc/shm_object.h"

namespace snapfaas::ipc {

inline constexpr std::uint64_t kStatsMagic = 0x4154534650414E53ULL;  // "SNAPFSTA" little-endian
inline constexpr std::uint32_t kStatsVersion = 2;  // 2: console_dir in the header
inline constexpr std::uint32_t kMaxStatsRunners = 4096;
inline constexpr std::size_t kFunctionNameSize = 48;  // bytes including the terminating NUL
inline constexpr std::size_t kConsoleDirSize = 256;   // bytes including the terminating NUL
inline constexpr std::size_t kLatencyBuckets = 32;    // bucket b: [2^b, 2^(b+1)) µs; bucket 0 also 0 µs

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

/// Block header at offset 0; entries follow at offset sizeof(StatsHeader).
struct StatsHeader {
  std::uint64_t magic;          // 0x00
  std::uint32_t version;        // 0x08
  std::uint32_t header_size;    // 0x0c sizeof(StatsHeader)
  std::uint32_t entry_size;     // 0x10 sizeof(StatsEntry)
  std::uint32_t runner_count;   // 0x14
  std::uint64_t total_size;     // 0x18
  std::uint8_t reserved[32];    // 0x20
  char console_dir[kConsoleDirSize];  // 0x40 runner i's guest console: <console_dir>/runner-<i>.log ("" = none)
};
static_assert(sizeof(StatsHeader) == 320 && sizeof(StatsHeader) % 64 == 0);

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
static_assert(std::is_standard_layout_v<StatsEntry> && std::is_trivially_copyable_v<StatsEntry>);

/// A consistent copy of one entry (plain values).
struct StatsSnapshot {
  RunnerState state = RunnerState::kEmpty;
  std::array<char, kFunctionNameSize> function{};  ///< NUL-terminated
  std::uint64_t requests = 0;
  std::uint64_t cold = 0;
  std::uint64_t warm = 0;
  std::uint64_t errors = 0;
  std::array<std::uint64_t, kLatencyBuckets> latency_us_log2{};

  [[nodiscard]] std::string_view function_name() const noexcept { return function.data(); }
};

/// Histogram bucket of a latency: floor(log2(us)), 0 for 0 µs, capped at the last bucket.
[[nodiscard]] std::size_t latency_bucket(std::uint64_t latency_us) noexcept;

/// The supervisor's end: creates and owns the object. One writer thread only.
class StatsWriter {
 public:
  /// Throws common::Error (name exists, runner_count 0 or > kMaxStatsRunners, ...).
  /// `console_dir` (cut to kConsoleDirSize - 1 bytes) is written once, with the header.
  [[nodiscard]] static StatsWriter create(std::string_view name, std::uint32_t runner_count,
                                          std::string_view console_dir = {});

  [[nodiscard]] std::uint32_t runner_count() const noexcept { return runner_count_; }
  [[nodiscard]] const ShmObject& shm() const noexcept { return shm_; }

  // Each call is one seqlock write of entry `runner`; out-of-range runners are ignored (false).
  bool set_state(std::uint32_t runner, RunnerState state) noexcept;
  /// Stores `function`, cut to kFunctionNameSize - 1 bytes.
  bool set_function(std::uint32_t runner, std::string_view function) noexcept;
  /// Counts one finished request: requests += 1, cold or warm += 1, errors += error, histogram.
  bool record_request(std::uint32_t runner, bool cold, bool error, std::uint64_t latency_us) noexcept;

 private:
  StatsWriter(ShmObject shm, std::uint32_t runner_count) noexcept;
  [[nodiscard]] StatsEntry* entry(std::uint32_t runner) const noexcept;

  ShmObject shm_;
  std::uint32_t runner_count_ = 0;
};

/// A reader in any process: maps the object read-only and validates its header once.
class StatsReader {
 public:
  /// Throws common::Error when the object is missing or its header is invalid.
  [[nodiscard]] static StatsReader open(std::string_view name);

  [[nodiscard]] std::uint32_t runner_count() const noexcept { return runner_count_; }
  /// Where the runners' console logs are ("" = not kept): runner i's is <dir>/runner-<i>.log.
  [[nodiscard]] const std::string& console_dir() const noexcept { return console_dir_; }
  /// A consistent snapshot of entry `runner` (kEntryOutOfRange; kBusy if the writer never left it).
  [[nodiscard]] Result<StatsSnapshot> snapshot(std::uint32_t runner) const noexcept;

 private:
  StatsReader(ShmObject shm, std::uint32_t runner_count, std::string console_dir) noexcept;

  ShmObject shm_;
  std::uint32_t runner_count_ = 0;
  std::string console_dir_;
};

}  // namespace snapfaas::ipc
