// RunnerPool: the supervisor's event loop. Takes requests from a RequestSource (the workload file:
// workload_source.h; HTTP: http_source.h; both: source_set.h), asks the Scheduler where each goes,
// drives the runner slots (RunnerProcess: spawn, load, send, read; runner_slots.cpp) and handles
// their faults (a runner that dies or passes its deadline is
// killed, its request answered with an error in ipc/error_type.h's vocabulary, the slot
// respawned; a VM that misbehaved is never reused). Failures are counted per function: a function
// whose VMs fail `unhealthy_after` times in a row is backed off (its cold starts answer
// function_unhealthy until the back-off ends, then one is tried again), while every other function
// is served. Single-threaded; kills and reaps every runner on destruction.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/runner_command.h"
#include "ipc/adaptive_spin.h"
#include "ipc/stats_block.h"
#include "supervisor/config.h"
#include "supervisor/console_log.h"
#include "supervisor/function_health.h"
#include "supervisor/jailer.h"
#include "supervisor/request_source.h"
#include "supervisor/run_stats.h"
#include "supervisor/runner_process.h"
#include "supervisor/scheduler.h"
#include "supervisor/workload.h"

namespace snapfaas::supervisor {

/// The runners of one pool (one VM shape, pool_plan.h): their command line and jail contents.
struct PoolRunners {
  common::RunnerCommand runner;  ///< --mem_size, --vcpu_count, --rootfs, --kernel, --functions of the shape
  JailContents jail;
};

struct PoolOptions {
  std::string runner_binary;
  common::RunnerCommand runner;          ///< every runner's command line (the channel is set per spawn)
  std::vector<std::string> runner_extra; ///< extra arguments after it (tests, debugging)
  JailContents jail;                     ///< what a runner's jail holds, by function (jail_contents.h)
  /// By pool (slot -> pool: scheduler.pool_of_slot): replaces `runner` and `jail`. Empty: one pool.
  std::vector<PoolRunners> pools;
  SchedulerOptions scheduler;
  /// Deadline of every request, from dispatch, overriding each function's timeout_ms (0: use them).
  std::chrono::milliseconds deadline{0};
  /// Deadline of requests whose function has no timeout_ms (never 0: no request waits forever).
  std::chrono::milliseconds default_timeout{30'000};
  /// When one function's failing VMs back it off (function_unhealthy), and for how long.
  HealthOptions health;
  std::string console_dir;                ///< runner-<slot>.log per slot ("" = consoles inherited)
  ConsoleLimits console_limits;
  bool prespawn = true;                   ///< false: spawn a runner only when a cold start needs it
  std::chrono::milliseconds start_timeout{10'000};
  std::chrono::milliseconds drain_timeout{5'000};
  /// Before parking, the loop polls this long for a response or a request (adaptive: not while
  /// spins keep failing): a busy loop then needs no wake-up and its guests no RESPONSE_READY exit.
  std::chrono::microseconds loop_spin{50};
  bool loop_spin_yield = true;  ///< sched_yield between polls (a guest on this core gets to answer)
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
  /// Serves `source` until it is exhausted and every request is answered, or until `stop` is set
  /// (then in-flight work drains for drain_timeout), or at once when `abort` is set. Calls each
  /// request's Invocation::on_done, or `sink` when it has none, once per request; request ids
  /// count from 0 in submission order. Times in the records are ms since the call.
  void run(RequestSource& source, RunStats& stats, const ResultSink& sink, const std::atomic<bool>& stop,
           const std::atomic<bool>* abort = nullptr);
  /// run() over a WorkloadSource replaying `workload` (time = ms after the call); request id i is
  /// workload[i].
  void run(const std::vector<WorkloadRequest>& workload, RunStats& stats, const ResultSink& sink,
           const std::atomic<bool>& stop);
  /// Kills and reaps every runner; removes their shm objects.
  void shutdown() noexcept;

  [[nodiscard]] const Scheduler& scheduler() const noexcept { return scheduler_; }
  /// pids of live runners (tests).
  [[nodiscard]] std::vector<pid_t> runner_pids() const;

 private:
  using Clock = RunnerProcess::Clock;
  /// A submitted, unanswered request: its record and the payload still to send.
  struct InFlight {
    RequestRecord record;
    std::string payload;
    Invocation::Completion on_done;
    std::int64_t function = -1;  ///< index, -1 when the name is not configured
  };

  void submit(Invocation&& invocation, Clock::time_point now);
  void spawn(std::uint32_t slot);
  /// The functions runner `slot` may serve: those of its pool (the scheduler places no other
  /// there); its jail holds their images and snapshots and no other's.
  [[nodiscard]] std::vector<std::uint32_t> servable_functions(std::uint32_t slot) const;
  void apply(const std::vector<Action>& actions);
  void start_load(std::uint32_t slot, std::uint64_t request, std::uint32_t function);
  void send_request(std::uint32_t slot, std::uint64_t request);
  void finish(std::uint64_t request, std::string status, nlohmann::json error, std::string response);
  void finish_error(std::uint64_t request, nlohmann::json error) { finish(request, "error", std::move(error), ""); }
  /// Kills the runner in `slot`, answers its request (if any) with `error`, respawns the slot.
  /// `blame_function`: the failure counts against the function the slot holds (its VM failed).
  void fail_runner(std::uint32_t slot, nlohmann::json error, bool blame_function = true);
  [[nodiscard]] std::chrono::milliseconds timeout_of(std::uint32_t function) const noexcept;
  void handle_response(std::uint32_t slot, const ipc::Response& response);
  /// Fills the runner's and the guest's marks of a successful cold request (run_stats.h): its
  /// phases and the restore generation the guest reported.
  void note_cold_phases(std::uint32_t slot, std::uint64_t request, const std::string& body,
                        std::uint32_t restore_generation);
  /// KVM's counts of the slot's last cold request (RunnerProcess::counts_request), once the runner
  /// published them — right after its response, or at a later poll: into the stats and the stats block.
  void collect_counts(std::uint32_t slot);
  void drain_consoles() noexcept;
  bool poll_runner(std::uint32_t slot);
  void on_load_reply(std::uint32_t slot, const ipc::ControlReply& reply);
  void reap();
  bool check_timers(Clock::time_point now, Clock::time_point& wake);
  void wait_for_event(Clock::time_point until);
  void set_state(std::uint32_t slot, ipc::RunnerState state) noexcept;
  [[nodiscard]] double ms_since_start(Clock::time_point t) const noexcept;

  PoolOptions options_;
  std::vector<RunnerLaunch> launches_;  // by pool
  std::vector<std::uint32_t> pool_of_slot_;
  std::vector<FunctionConfig> functions_;
  std::unordered_map<std::string, std::uint32_t> function_index_;
  Jailer& jailer_;
  Scheduler scheduler_;
  std::deque<RunnerProcess> runners_;
  std::optional<ipc::StatsWriter> stats_block_;
  FunctionHealth health_;
  std::vector<ConsoleLog> consoles_;    // by slot (empty: consoles inherited)
  std::uint32_t start_failures_ = 0;    // runner spawns failing in a row (no function involved)
  ipc::AdaptiveSpin spin_;  // wait_for_event's poll before parking, in ns (ipc/adaptive_spin.h)
  bool idle_wake_ = false;  // the last park ran to its deadline and nothing came of it: park again without a poll

  // Per-run state.
  RunStats* stats_ = nullptr;
  const ResultSink* sink_ = nullptr;
  RequestSource* source_ = nullptr;
  Clock::time_point run_start_{};
  std::unordered_map<std::uint64_t, InFlight> in_flight_;  // by request id
  std::uint64_t next_id_ = 0;
};

}  // namespace snapfaas::supervisor
