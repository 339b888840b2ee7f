// Scheduler: the pure placement policy of the supervisor (no processes, no clock of its own).
// Events in (submit, complete, runner_ready, runner_failed, tick), actions out (run warm, run cold,
// evict, drop). Warm = an idle VM of the function, most recently used first; cold = an empty
// pre-spawned runner loads the function; idle VMs are evicted LRU across functions to make room
// under the memory budget or when their keep-alive expires; concurrency_limit caps the VMs of a
// function; a bounded FIFO queue holds what cannot be placed yet, and drops past its bound.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "ipc/stats_block.h"
#include "supervisor/config.h"

namespace snapfaas::supervisor {

using TimePoint = std::chrono::steady_clock::time_point;

struct SchedulerOptions {
  std::uint64_t mem_mib = 0;               ///< budget for the RAM of loaded VMs
  std::uint32_t runners = 0;               ///< runner slots (pre-spawned processes)
  std::size_t queue_limit = 1024;          ///< waiting requests beyond this are dropped
  std::chrono::milliseconds keep_alive{0};  ///< idle VMs older than this are evicted (0 = never)
};

enum class ActionKind : std::uint8_t {
  kRunWarm,  ///< send `request` to the VM in `runner` (already holds `function`)
  kRunCold,  ///< load `function` into the empty runner `runner`, then send `request`
  kEvict,    ///< discard the VM in `runner`; call runner_ready(runner) once it is empty again
  kDrop,     ///< answer `request` with "dropped: no capacity"
};

struct Action {
  ActionKind kind;
  std::uint64_t request = 0;
  std::uint32_t runner = 0;
  std::uint32_t function = 0;
  friend bool operator==(const Action&, const Action&) = default;
};

struct SchedulerCounters {
  std::uint64_t warm = 0;
  std::uint64_t cold = 0;
  std::uint64_t evictions = 0;
  std::uint64_t dropped = 0;
};

/// Not thread-safe; one owner calls every method with a non-decreasing `now`.
class Scheduler {
 public:
  /// Throws common::Error when a function can never fit (memory > budget) or options are invalid.
  Scheduler(SchedulerOptions options, std::vector<FunctionConfig> functions);

  /// A new request for function index `function`.
  [[nodiscard]] std::vector<Action> submit(std::uint64_t request, std::uint32_t function, TimePoint now);
  /// The request on `runner` finished (its VM is now idle and warm).
  [[nodiscard]] std::vector<Action> complete(std::uint32_t runner, TimePoint now);
  /// `runner` is ready (empty) after a spawn or an eviction.
  [[nodiscard]] std::vector<Action> runner_ready(std::uint32_t runner, TimePoint now);
  /// `runner` died or was discarded (its request, if any, is the caller's to answer).
  [[nodiscard]] std::vector<Action> runner_failed(std::uint32_t runner, TimePoint now);
  /// Keep-alive expiry.
  [[nodiscard]] std::vector<Action> tick(TimePoint now);
  /// Takes every queued (not yet placed) request of `function` out of the queue, oldest first:
  /// the caller answers them (a function just backed off is not made to wait for a runner).
  [[nodiscard]] std::vector<std::uint64_t> withdraw(std::uint32_t function);

  /// The slot as placement sees it, in the runners' one vocabulary (ipc::RunnerState): kStarting
  /// (being spawned or recycled: unusable until runner_ready), kEmpty (can take a cold start),
  /// kBusy (loading or serving one request), kIdle (holds a function, warm). The pool's own
  /// RunnerProcess::state says more (kStopped, kLoading, kFailed) about the same slot.
  [[nodiscard]] ipc::RunnerState slot_state(std::uint32_t runner) const { return slots_.at(runner).state; }
  /// Function held by `runner` (meaningful in kBusy/kIdle).
  [[nodiscard]] std::uint32_t slot_function(std::uint32_t runner) const { return slots_.at(runner).function; }
  [[nodiscard]] std::uint64_t used_mib() const noexcept { return used_mib_; }
  [[nodiscard]] std::size_t queued() const noexcept { return queue_.size(); }
  [[nodiscard]] const SchedulerCounters& counters() const noexcept { return counters_; }
  [[nodiscard]] std::uint32_t runners() const noexcept { return static_cast<std::uint32_t>(slots_.size()); }
  [[nodiscard]] const std::vector<FunctionConfig>& functions() const noexcept { return functions_; }
  /// Earliest time an idle VM's keep-alive expires (TimePoint::max() when none).
  [[nodiscard]] TimePoint next_expiry() const noexcept;

 private:
  struct Slot {
    ipc::RunnerState state = ipc::RunnerState::kStarting;
    std::uint32_t function = 0;
    TimePoint last_used{};
  };
  struct Pending {
    std::uint64_t request;
    std::uint32_t function;
  };

  void dispatch(TimePoint now, std::vector<Action>& out);
  void evict(std::uint32_t runner, std::vector<Action>& out);
  void release(std::uint32_t runner);
  [[nodiscard]] std::int64_t find_idle_mru(std::uint32_t function) const noexcept;
  [[nodiscard]] std::int64_t find_idle_lru() const noexcept;
  [[nodiscard]] std::int64_t find_empty() const noexcept;

  SchedulerOptions options_;
  std::vector<FunctionConfig> functions_;
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> vms_per_function_;  // busy + idle VMs holding each function
  std::deque<Pending> queue_;
  std::uint64_t used_mib_ = 0;
  SchedulerCounters counters_;
};

}  // namespace snapfaas::supervisor
