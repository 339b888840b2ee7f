// RunnerPool: the supervisor's event loop. Owns one runner process + SupervisorChannel per slot,
// replays a workload open-loop, turns Scheduler actions into control commands and requests, and
// handles faults (a runner that dies or passes its deadline is killed, its request answered with
// an error, the slot respawned). Single-threaded; SIGKILLs and reaps every runner on destruction.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ipc/channel.h"
#include "ipc/stats_block.h"
#include "supervisor/config.h"
#include "supervisor/jailer.h"
#include "supervisor/run_stats.h"
#include "supervisor/scheduler.h"
#include "supervisor/workload.h"

namespace snapfaas::supervisor {

struct PoolOptions {
  std::string runner_binary;
  std::vector<std::string> runner_args;  ///< passed to every runner before "--channel NAME"
  std::vector<std::string> read_only;    ///< images visible (read-only) inside each jail
  SchedulerOptions scheduler;
  std::chrono::milliseconds deadline{0};  ///< per request, from dispatch (0 = none)
  bool prespawn = true;                   ///< false: spawn a runner only when a cold start needs it
  std::chrono::milliseconds start_timeout{10'000};
  std::chrono::milliseconds drain_timeout{5'000};
  std::string stats_name;                 ///< shm stats block name ("" = none)
};

class RunnerPool {
 public:
  using ResultSink = std::function<void(const RequestRecord&)>;

  /// Throws common::Error on invalid options (see Scheduler).
  RunnerPool(PoolOptions options, std::vector<FunctionConfig> functions, Jailer& jailer);
  RunnerPool(const RunnerPool&) = delete;
  RunnerPool& operator=(const RunnerPool&) = delete;
  ~RunnerPool();

  /// Pre-spawns every runner and waits until each answers kPing. Throws common::Error when a
  /// runner fails to start within start_timeout.
  void start();
  /// Replays `workload` (time = ms after the call), calling `sink` once per request. Returns when
  /// every request is answered, or after draining in-flight work once `stop` is set.
  void run(const std::vector<WorkloadRequest>& workload, RunStats& stats, const ResultSink& sink,
           const std::atomic<bool>& stop);
  /// Kills and reaps every runner; removes their shm objects.
  void shutdown() noexcept;

  [[nodiscard]] const Scheduler& scheduler() const noexcept { return scheduler_; }
  /// pids of live runners (tests).
  [[nodiscard]] std::vector<pid_t> runner_pids() const;

 private:
  using Clock = std::chrono::steady_clock;
  enum class Phase : std::uint8_t { kNone, kStarting, kReady, kLoading, kBusy };
  struct Runner {
    std::optional<ipc::SupervisorChannel> channel;
    pid_t pid = -1;
    Phase phase = Phase::kNone;
    unsigned generation = 0;
    std::uint64_t command_id = 0;
    Clock::time_point started{};
    Clock::time_point deadline = Clock::time_point::max();
    std::int64_t request = -1;  // workload index in flight (loading or busy)
    std::int64_t pending_cold = -1;  // spawn-on-demand: request waiting for this runner to start
    std::uint32_t function = 0;
    double load_start_ms = 0;
  };

  void spawn(std::uint32_t slot);
  void kill_runner(std::uint32_t slot) noexcept;
  void apply(const std::vector<Action>& actions);
  void start_load(std::uint32_t slot, std::uint64_t request, std::uint32_t function);
  void send_request(std::uint32_t slot, std::uint64_t request);
  void finish(std::uint64_t request, std::string status, std::string error, std::string response);
  void fail_runner(std::uint32_t slot, const std::string& why);
  bool poll_runner(std::uint32_t slot);
  void reap();
  void wait_for_event(Clock::time_point until);
  void set_state(std::uint32_t slot, ipc::RunnerState state) noexcept;
  [[nodiscard]] double ms_since_start(Clock::time_point t) const noexcept;

  PoolOptions options_;
  std::vector<FunctionConfig> functions_;
  Jailer& jailer_;
  Scheduler scheduler_;
  std::vector<Runner> runners_;
  std::optional<ipc::StatsWriter> stats_block_;
  std::uint32_t start_failures_ = 0;

  // Per-run state.
  const std::vector<WorkloadRequest>* workload_ = nullptr;
  RunStats* stats_ = nullptr;
  const ResultSink* sink_ = nullptr;
  Clock::time_point run_start_{};
  std::vector<RequestRecord> records_;  // indexed by workload index
  std::uint64_t outstanding_ = 0;       // submitted, not yet finished
};

}  // namespace snapfaas::supervisor
