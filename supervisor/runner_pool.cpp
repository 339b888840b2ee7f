// The supervisor's event loop (see runner_pool.h): requests in (submit), answers out (finish), the
// scheduler's actions, the loop itself and its parking. The runner-slot side is runner_slots.cpp.
#include "supervisor/runner_pool.h"

#include <sys/resource.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/error.h"
#include "ipc/error_result.h"
#include "supervisor/request_outcome.h"
#include "supervisor/workload_source.h"

namespace snapfaas::supervisor {
namespace {

// The longest the loop parks with no timer due: it reaps dead runners (a dead runner never rings)
// and drains consoles when it wakes. 10 ms: a runner that dies mid-request is answered within
// ~10 ms, and an idle supervisor wakes 100 times a second (1 ms cost 1000 wake-ups a second: in
// the emulated KVM host, under TCG, ~8 % of a CPU and over twice the loop's CPU in the main job).
constexpr auto kLoopBackstop = std::chrono::milliseconds(10);

// This process's CPU time (user + system), ms.
[[nodiscard]] double self_cpu_ms() noexcept {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  const auto ms = [](const timeval& t) { return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_usec) / 1e3; };
  return ms(usage.ru_utime) + ms(usage.ru_stime);
}

[[nodiscard]] std::vector<std::string> function_names(const std::vector<FunctionConfig>& functions) {
  std::vector<std::string> names;
  for (const FunctionConfig& f : functions) names.push_back(f.name);
  return names;
}

}  // namespace

RunnerPool::RunnerPool(PoolOptions options, std::vector<FunctionConfig> functions, Jailer& jailer)
    : options_(std::move(options)),
      functions_(std::move(functions)),
      jailer_(jailer),
      scheduler_(options_.scheduler, functions_),
      health_(options_.health, function_names(functions_)),
      spin_(ipc::spin_units(options_.loop_spin), options_.loop_spin_yield) {  // ns
  for (std::uint32_t i = 0; i < functions_.size(); ++i) function_index_[functions_[i].name] = i;
  if (options_.pools.empty()) {
    launches_.push_back({options_.runner_binary, options_.runner, options_.runner_extra, options_.jail});
  }
  for (const PoolRunners& p : options_.pools) {
    launches_.push_back({options_.runner_binary, p.runner, options_.runner_extra, p.jail});
  }
  pool_of_slot_ = options_.scheduler.pool_of_slot;
  if (pool_of_slot_.empty()) pool_of_slot_.assign(options_.scheduler.runners, 0);
  for (const std::uint32_t pool : pool_of_slot_) {
    if (pool >= launches_.size()) throw common::Error("runner pool: a slot of pool " + std::to_string(pool) + ", " +
                                                      std::to_string(launches_.size()) + " pools given");
  }
  for (std::uint32_t i = 0; i < options_.scheduler.runners; ++i) runners_.emplace_back(i);
  if (!options_.console_dir.empty()) {
    for (std::uint32_t i = 0; i < options_.scheduler.runners; ++i) {
      consoles_.emplace_back(options_.console_dir, i, options_.console_limits);
    }
  }
  if (!options_.stats_name.empty()) {
    ipc::StatsShape shape{options_.scheduler.runners, {}, outcome_names(), options_.console_dir};
    for (const FunctionConfig& f : functions_) shape.functions.push_back(f.name);
    stats_block_.emplace(ipc::StatsWriter::create(options_.stats_name, shape));
    if (stats_block_->replaced_stale()) {
      spdlog::warn("supervisor: stats block {} was left by a killed process with this pid: replaced", options_.stats_name);
    }
  }
}

RunnerPool::~RunnerPool() { shutdown(); }

double RunnerPool::ms_since_start(Clock::time_point t) const noexcept {
  return std::chrono::duration<double, std::milli>(t - run_start_).count();
}

void RunnerPool::set_state(std::uint32_t slot, ipc::RunnerState state) noexcept {
  runners_[slot].state = state;
  if (stats_block_) stats_block_->set_state(slot, state);
}

std::vector<pid_t> RunnerPool::runner_pids() const {
  std::vector<pid_t> pids;
  for (const auto& r : runners_) {
    if (r.pid() > 0) pids.push_back(r.pid());
  }
  return pids;
}

void RunnerPool::submit(Invocation&& invocation, Clock::time_point now) {
  const std::uint64_t id = next_id_++;
  InFlight& entry = in_flight_[id];
  RequestRecord& rec = entry.record;
  rec.id = id;
  rec.function = std::move(invocation.function);
  rec.user_id = invocation.user_id;
  rec.arrival_ms = ms_since_start(now);
  entry.payload = std::move(invocation.payload);
  entry.on_done = std::move(invocation.on_done);
  const auto f = function_index_.find(rec.function);
  if (f == function_index_.end()) {
    rec.dispatch_ms = rec.arrival_ms;
    finish_error(id, ipc::make_error(ipc::ErrorType::kUnknownFunction, "unknown function '" + rec.function + "'"));
    return;
  }
  if (entry.payload.size() > RunnerProcess::kSlotSize) {  // refused before any cold start is paid
    rec.dispatch_ms = rec.arrival_ms;
    finish_error(id, ipc::make_error(ipc::ErrorType::kRequestTooLarge,
                                "request of " + std::to_string(entry.payload.size()) + " bytes exceeds the " +
                                    std::to_string(RunnerProcess::kSlotSize) + "-byte limit",
                                {{"size", entry.payload.size()}, {"limit", RunnerProcess::kSlotSize}}));
    return;
  }
  if (nlohmann::json unhealthy = health_.unhealthy_error(f->second, now); !unhealthy.is_null()) {
    rec.dispatch_ms = rec.arrival_ms;  // backed off: answered at once, never queued
    finish_error(id, std::move(unhealthy));
    return;
  }
  entry.function = f->second;
  if (stats_block_) stats_block_->add_in_flight(f->second, 1);
  apply(scheduler_.submit(id, f->second, now));
}

void RunnerPool::finish(std::uint64_t request, std::string status, nlohmann::json error, std::string response) {
  const auto it = in_flight_.find(request);
  if (it == in_flight_.end()) return;
  RequestRecord& rec = it->second.record;
  rec.status = std::move(status);
  rec.error = std::move(error);
  rec.response = std::move(response);
  rec.done_ms = ms_since_start(Clock::now());
  if (stats_block_) {
    ipc::RequestSample sample{rec.runner, it->second.function, rec.cold, outcome_index(rec),
                              static_cast<std::uint64_t>(rec.latency_ms() * 1000.0)};
    if (const auto phases = rec.cold_phases_ms()) {
      sample.cold_timed = true;
      for (std::size_t i = 0; i < ipc::kColdPhases; ++i) sample.cold_phase_us[i] = static_cast<std::uint64_t>((*phases)[i] * 1000.0);
    }
    stats_block_->record_request(sample);
    if (it->second.function >= 0) stats_block_->add_in_flight(static_cast<std::uint32_t>(it->second.function), -1);
  }
  if (it->second.on_done) {
    it->second.on_done(rec);
  } else if (*sink_) {
    (*sink_)(rec);
  }
  rec.response = std::string();  // the stats keep no payloads (a service runs for long)
  stats_->add_request(std::move(rec));
  in_flight_.erase(it);
}

void RunnerPool::apply(const std::vector<Action>& actions) {
  for (const Action& a : actions) {
    switch (a.kind) {
      case ActionKind::kRunWarm:
        in_flight_[a.request].record.cold = false;
        in_flight_[a.request].record.runner = a.runner;
        send_request(a.runner, a.request);
        break;
      case ActionKind::kRunCold:
        in_flight_[a.request].record.cold = true;
        in_flight_[a.request].record.runner = a.runner;
        if (nlohmann::json unhealthy = health_.unhealthy_error(a.function, Clock::now()); !unhealthy.is_null()) {
          // Backed off: answered at once, the runner stays empty for the other functions.
          in_flight_[a.request].record.dispatch_ms = ms_since_start(Clock::now());
          finish_error(a.request, std::move(unhealthy));
          apply(scheduler_.runner_failed(a.runner, Clock::now()));
          if (runners_[a.runner].state == ipc::RunnerState::kEmpty ||
              runners_[a.runner].state == ipc::RunnerState::kStopped) {
            apply(scheduler_.runner_ready(a.runner, Clock::now()));
          }
          break;
        }
        if (runners_[a.runner].state == ipc::RunnerState::kStopped) {  // spawn on demand
          runners_[a.runner].pending_cold = static_cast<std::int64_t>(a.request);
          runners_[a.runner].function = a.function;
          spawn(a.runner);
        } else {
          start_load(a.runner, a.request, a.function);
        }
        break;
      case ActionKind::kEvict:
        if (stats_) stats_->count_eviction();
        if (stats_block_) stats_block_->count_eviction();
        runners_[a.runner].kill();
        if (options_.prespawn) {
          spawn(a.runner);
        } else {
          set_state(a.runner, ipc::RunnerState::kStopped);
          apply(scheduler_.runner_ready(a.runner, Clock::now()));
        }
        break;
      case ActionKind::kDrop:
        in_flight_[a.request].record.dispatch_ms = ms_since_start(Clock::now());
        finish(a.request, "dropped", ipc::make_error(ipc::ErrorType::kNoCapacity, "dropped: no capacity"), "");
        break;
    }
  }
}

// Parks until a runner with work outstanding pushes a reply or response, or the source has a
// request off the clock (ipc::wait_any over their doorbells), or `until`, whichever is first.
// Polls first (spin_) unless the last park ran to its deadline with nothing done since: an idle
// loop's backstop wake-ups then cost a wake-up each, not a poll each (as the runner's WAIT).
void RunnerPool::wait_for_event(Clock::time_point until) {
  std::vector<ipc::Doorbell*> bells;
  if (source_ != nullptr) source_->doorbells(bells);
  for (RunnerProcess& r : runners_) {
    if (r.awaits_reply()) bells.push_back(r.doorbell());
  }
  const ipc::Status woke = ipc::wait_any(
      bells,
      [this] {
        return (source_ != nullptr && source_->ready()) ||
               std::any_of(runners_.begin(), runners_.end(),
                           [](const RunnerProcess& r) { return r.awaits_reply() && r.readable(); });
      },
      until, idle_wake_ ? nullptr : &spin_);
  idle_wake_ = !woke;  // kTimedOut: the loop re-checks its timers
}

void RunnerPool::run(const std::vector<WorkloadRequest>& workload, RunStats& stats, const ResultSink& sink,
                     const std::atomic<bool>& stop) {
  WorkloadSource source(workload, Clock::now());
  run(source, stats, sink, stop);
}

void RunnerPool::run(RequestSource& source, RunStats& stats, const ResultSink& sink, const std::atomic<bool>& stop,
                     const std::atomic<bool>* abort) {
  stats_ = &stats;
  sink_ = &sink;
  source_ = &source;
  in_flight_.clear();
  next_id_ = 0;
  run_start_ = Clock::now();
  const double cpu_start = self_cpu_ms();
  auto last_reap = Clock::now();
  auto last_console_drain = Clock::now();
  std::vector<std::string> console_paths;
  for (const ConsoleLog& c : consoles_) console_paths.push_back(c.path());
  stats.set_consoles(std::move(console_paths));
  std::optional<Clock::time_point> drain_until;
  const RequestSource::Submit submit_now = [this](Invocation&& invocation) {
    submit(std::move(invocation), Clock::now());
  };
  for (;;) {
    auto now = Clock::now();
    if (stop.load(std::memory_order_relaxed) && !drain_until) {
      drain_until = now + options_.drain_timeout;
      const std::uint64_t left = source.stop();
      stats.set_not_submitted(left);
      spdlog::info("supervisor: stopping: draining {} in-flight requests, {} not submitted", in_flight_.size(), left);
      if (stats_block_) stats_block_->set_draining(true);
    }
    source.poll(now, submit_now);
    bool progress = false;
    for (std::uint32_t i = 0; i < runners_.size(); ++i) progress |= poll_runner(i);
    now = Clock::now();
    Clock::time_point wake = now + kLoopBackstop;
    progress |= check_timers(now, wake);
    if (now >= scheduler_.next_expiry()) apply(scheduler_.tick(now));
    wake = std::min(wake, scheduler_.next_expiry());
    if (now - last_reap >= std::chrono::milliseconds(1)) {  // a dead runner never rings: parks end by kLoopBackstop
      reap();
      last_reap = now;
    }
    if (stats_block_) stats_block_->set_load(scheduler_.queued(), in_flight_.size());
    if (now - last_console_drain >= std::chrono::milliseconds(5)) {
      drain_consoles();
      last_console_drain = now;
    }
    if (source.exhausted() && in_flight_.empty()) break;
    const bool aborted = abort != nullptr && abort->load(std::memory_order_relaxed);
    if ((drain_until && now > *drain_until) || aborted) {
      spdlog::warn("supervisor: {}, {} requests unanswered", aborted ? "second signal" : "drain timeout", in_flight_.size());
      for (RunnerProcess& r : runners_) {
        if (r.request >= 0 || r.pending_cold >= 0) {
          fail_runner(r.slot(), ipc::make_error(ipc::ErrorType::kShutdown, "shutdown before completion"), false);
        }
      }
      std::vector<std::uint64_t> queued;  // waiting for a runner: answered too, never left hanging
      for (const auto& [id, entry] : in_flight_) queued.push_back(id);
      for (const std::uint64_t id : queued) {
        finish_error(id, ipc::make_error(ipc::ErrorType::kShutdown, "shutdown before completion"));
      }
      break;
    }
    if (progress) {
      idle_wake_ = false;
      continue;
    }
    wait_for_event(std::min(wake, source.next_due()));
  }
  in_flight_.clear();
  sink_ = nullptr;
  source_ = nullptr;
  drain_consoles();
  stats.set_loop_times(self_cpu_ms() - cpu_start, ms_since_start(Clock::now()));
}

void RunnerPool::shutdown() noexcept {
  for (RunnerProcess& r : runners_) {
    r.send_shutdown();
    r.kill();
    if (stats_block_) stats_block_->set_state(r.slot(), ipc::RunnerState::kStopped);
  }
}

}  // namespace snapfaas::supervisor
