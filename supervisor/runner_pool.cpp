// The supervisor's event loop (see runner_pool.h).
#include "supervisor/runner_pool.h"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <span>

#include "common/error.h"
#include "ipc/ipc_error.h"
#include "supervisor/response_check.h"
#include "common/unique_fd.h"
#include "supervisor/workload_source.h"

namespace snapfaas::supervisor {
namespace {

// This process's CPU time (user + system), ms.
[[nodiscard]] double self_cpu_ms() noexcept {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  const auto ms = [](const timeval& t) { return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_usec) / 1e3; };
  return ms(usage.ru_utime) + ms(usage.ru_stime);
}

[[nodiscard]] std::string exit_text(int status) {
  return WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                             : "exit " + std::to_string(WEXITSTATUS(status));
}

// Slots with work outstanding: a reply or a response may come (the only ones the loop waits on).
[[nodiscard]] bool awaits_runner(const RunnerProcess& r) noexcept {
  return r.has_channel() && (r.state == ipc::RunnerState::kStarting || r.state == ipc::RunnerState::kLoading ||
                             r.state == ipc::RunnerState::kBusy);
}

}  // namespace

RunnerPool::RunnerPool(PoolOptions options, std::vector<FunctionConfig> functions, Jailer& jailer)
    : options_(std::move(options)),
      launch_{options_.runner_binary, options_.runner, options_.runner_extra, options_.jail},
      functions_(std::move(functions)),
      jailer_(jailer),
      scheduler_(options_.scheduler, functions_) {
  for (std::uint32_t i = 0; i < functions_.size(); ++i) function_index_[functions_[i].name] = i;
  for (std::uint32_t i = 0; i < options_.scheduler.runners; ++i) runners_.emplace_back(i);
  health_.resize(functions_.size());
  if (!options_.console_dir.empty()) {
    for (std::uint32_t i = 0; i < options_.scheduler.runners; ++i) {
      consoles_.emplace_back(options_.console_dir, i, options_.console_limits);
    }
  }
  if (!options_.stats_name.empty()) {
    stats_block_.emplace(ipc::StatsWriter::create(options_.stats_name, options_.scheduler.runners, options_.console_dir));
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

std::vector<std::uint32_t> RunnerPool::servable_functions(std::uint32_t /*slot*/) const {
  std::vector<std::uint32_t> all(functions_.size());
  for (std::uint32_t i = 0; i < all.size(); ++i) all[i] = i;
  return all;
}

void RunnerPool::spawn(std::uint32_t slot) {
  common::UniqueFd console;  // closed once the child holds its copy
  if (!consoles_.empty()) console = consoles_[slot].open_pipe(runners_[slot].generation() + 1);
  runners_[slot].spawn(launch_, jailer_, servable_functions(slot), console.get());
  set_state(slot, ipc::RunnerState::kStarting);
}

void RunnerPool::start() {
  if (!options_.prespawn) {  // no process until a cold start needs one (kStopped, placeable)
    for (std::uint32_t i = 0; i < runners_.size(); ++i) {
      set_state(i, ipc::RunnerState::kStopped);
      apply(scheduler_.runner_ready(i, Clock::now()));
    }
    return;
  }
  for (std::uint32_t i = 0; i < runners_.size(); ++i) spawn(i);
  const auto give_up = Clock::now() + options_.start_timeout;
  for (;;) {
    bool all = true;
    for (RunnerProcess& r : runners_) {
      if (r.state != ipc::RunnerState::kStarting) continue;
      if (auto reply = r.try_reply()) {
        set_state(r.slot(), ipc::RunnerState::kEmpty);
        (void)scheduler_.runner_ready(r.slot(), Clock::now());
        continue;
      }
      int status = 0;
      if (::waitpid(r.pid(), &status, WNOHANG) == r.pid()) {
        r.mark_reaped();
        throw common::Error("runner " + std::to_string(r.slot()) + " (" + options_.runner_binary +
                            ") died during start (" + exit_text(status) + ")");
      }
      all = false;
    }
    if (all) break;
    if (Clock::now() > give_up) throw common::Error("runners did not answer kPing within the start timeout");
    wait_for_event(Clock::now() + std::chrono::milliseconds(1));
  }
  spdlog::info("supervisor: {} runners ready", runners_.size());
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
  if (nlohmann::json unhealthy = unhealthy_error(f->second, now); !unhealthy.is_null()) {
    rec.dispatch_ms = rec.arrival_ms;  // backed off: answered at once, never queued
    finish_error(id, std::move(unhealthy));
    return;
  }
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
  if (rec.runner >= 0 && stats_block_) {
    stats_block_->record_request(static_cast<std::uint32_t>(rec.runner), rec.cold, rec.status != "ok",
                                 static_cast<std::uint64_t>(rec.latency_ms() * 1000.0));
  }
  if (*sink_) (*sink_)(rec);
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
        if (nlohmann::json unhealthy = unhealthy_error(a.function, Clock::now()); !unhealthy.is_null()) {
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

void RunnerPool::start_load(std::uint32_t slot, std::uint64_t request, std::uint32_t function) {
  RunnerProcess& r = runners_[slot];
  const FunctionConfig& f = functions_[function];
  const auto op = f.restores_snapshot() ? ipc::ControlOp::kRestore : ipc::ControlOp::kBoot;
  const std::uint64_t flags = (f.copy_base ? ipc::kLoadCopyBase : 0U) | (f.copy_diff ? ipc::kLoadCopyDiff : 0U);
  const auto now = Clock::now();
  r.function = function;
  r.request = static_cast<std::int64_t>(request);
  r.load_started = now;
  in_flight_[request].record.dispatch_ms = ms_since_start(now);
  r.deadline = now + timeout_of(function);
  if (stats_block_) stats_block_->set_function(slot, f.name);
  if (!r.send_load(op, function, flags)) {
    fail_runner(slot, ipc::make_error(ipc::ErrorType::kRunnerFailed, "control ring full"), false);
    return;
  }
  set_state(slot, ipc::RunnerState::kLoading);
}

void RunnerPool::send_request(std::uint32_t slot, std::uint64_t request) {
  RunnerProcess& r = runners_[slot];
  InFlight& entry = in_flight_[request];
  r.request = static_cast<std::int64_t>(request);
  if (entry.record.dispatch_ms == 0) entry.record.dispatch_ms = ms_since_start(Clock::now());
  if (r.deadline == Clock::time_point::max()) r.deadline = Clock::now() + timeout_of(r.function);
  const ipc::Status sent = r.send_request(
      request, std::span(reinterpret_cast<const std::uint8_t*>(entry.payload.data()), entry.payload.size()));
  if (!sent) {  // its guest stalled or corrupted the ring: the VM is discarded, never reused
    fail_runner(slot, ipc::make_error(ipc::ErrorType::kBadResponse,
                                 std::string("request not sent: ") + ipc::to_string(sent.error())));
    return;
  }
  set_state(slot, ipc::RunnerState::kBusy);
}

void RunnerPool::fail_runner(std::uint32_t slot, nlohmann::json error, bool blame_function) {
  RunnerProcess& r = runners_[slot];
  const std::int64_t request = r.request >= 0 ? r.request : r.pending_cold;
  const bool had_function = r.state == ipc::RunnerState::kLoading || r.state == ipc::RunnerState::kBusy ||
                            r.state == ipc::RunnerState::kIdle;
  const std::uint32_t function = r.function;
  spdlog::warn("supervisor: runner {} (pid {}): {}: {}", slot, r.pid(), error.value("type", std::string{}),
               error.value("message", std::string{}));
  r.kill();
  if (!consoles_.empty()) consoles_[slot].drain();  // the dead VM's last console lines
  r.pending_cold = -1;
  set_state(slot, ipc::RunnerState::kFailed);
  if (stats_) stats_->count_runner_failure();
  const auto now = Clock::now();
  if (had_function && blame_function) function_failed(function, now);
  if (request >= 0) finish_error(static_cast<std::uint64_t>(request), std::move(error));
  apply(scheduler_.runner_failed(slot, now));
  if (options_.prespawn) {
    // Spawns failing with no function involved (a broken runner binary or host) cannot get better
    // by retrying forever; a function's failures only back that function off.
    if (!had_function && ++start_failures_ > 10 + 2 * runners_.size()) {
      throw common::Error("runners keep failing to start: " + error.value("message", std::string{}));
    }
    spawn(slot);
  } else {
    set_state(slot, ipc::RunnerState::kStopped);
    apply(scheduler_.runner_ready(slot, Clock::now()));
  }
}

void RunnerPool::function_failed(std::uint32_t function, Clock::time_point now) {
  FunctionHealth& h = health_[function];
  if (++h.consecutive_failures < options_.unhealthy_after) return;
  h.backoff = h.backoff.count() == 0 ? options_.backoff_initial : std::min(options_.backoff_max, h.backoff * 2);
  h.backoff_until = now + h.backoff;
  spdlog::warn("supervisor: function {}: {} VM failures in a row, backed off for {} ms", functions_[function].name,
               h.consecutive_failures, h.backoff.count());
}

nlohmann::json RunnerPool::unhealthy_error(std::uint32_t function, Clock::time_point now) const {
  const FunctionHealth& h = health_[function];
  if (h.consecutive_failures < options_.unhealthy_after || now >= h.backoff_until) return nullptr;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(h.backoff_until - now).count() + 1;
  return ipc::make_error(ipc::ErrorType::kFunctionUnhealthy,
                    "function " + functions_[function].name + ": its last " + std::to_string(h.consecutive_failures) +
                        " VMs failed; backed off",
                    {{"retry_after_ms", left}});
}

std::chrono::milliseconds RunnerPool::timeout_of(std::uint32_t function) const noexcept {
  if (options_.deadline.count() > 0) return options_.deadline;
  const std::uint32_t own = function < functions_.size() ? functions_[function].timeout_ms : 0;
  return own > 0 ? std::chrono::milliseconds(own) : options_.default_timeout;
}

void RunnerPool::drain_consoles() noexcept {
  for (ConsoleLog& c : consoles_) c.drain();
}

void RunnerPool::on_load_reply(std::uint32_t slot, const ipc::ControlReply& reply) {
  RunnerProcess& r = runners_[slot];
  const FunctionConfig& f = functions_[r.function];
  // A runner started without a function table boots its --kernel at spawn and answers kBoot with
  // kBootedAtSpawn: for a function that is that kernel (ring-3 guests) the VM is already there.
  const bool booted_at_spawn = reply.status == static_cast<std::int32_t>(ipc::ControlResult::kBootedAtSpawn) &&
                               reply.op == static_cast<std::uint32_t>(ipc::ControlOp::kBoot) &&
                               !f.restores_snapshot();
  if (reply.status != static_cast<std::int32_t>(ipc::ControlResult::kOk) && !booted_at_spawn) {
    const bool restore = reply.op == static_cast<std::uint32_t>(ipc::ControlOp::kRestore);
    fail_runner(slot, ipc::make_error(ipc::ErrorType::kRunnerFailed,
                                 std::string(restore ? "restore" : "load") + " of " + f.name + " failed in the runner: " +
                                     ipc::control_result_text(reply.status) + " (status " +
                                     std::to_string(reply.status) + "; its log line says why)"));
    return;
  }
  stats_->add_vm({slot, f.name, f.memory, f.restores_snapshot() ? "restore" : "boot", ms_since_start(r.load_started),
                  ms_since_start(Clock::now())});
  send_request(slot, static_cast<std::uint64_t>(r.request));
}

// Handles whatever `slot` has ready. Returns true when something happened.
bool RunnerPool::poll_runner(std::uint32_t slot) {
  RunnerProcess& r = runners_[slot];
  if (!awaits_runner(r)) return false;
  if (auto reply = r.try_reply()) {
    if (r.state == ipc::RunnerState::kStarting) {
      start_failures_ = 0;
      set_state(slot, ipc::RunnerState::kEmpty);
      if (r.pending_cold >= 0) {
        const auto request = static_cast<std::uint64_t>(std::exchange(r.pending_cold, -1));
        start_load(slot, request, r.function);
      } else {
        apply(scheduler_.runner_ready(slot, Clock::now()));
      }
    } else if (r.state == ipc::RunnerState::kLoading) {
      on_load_reply(slot, *reply);
    }
    return true;
  }
  if (r.state != ipc::RunnerState::kBusy) return false;
  auto response = r.try_response();
  if (!response) {
    if (response.error() == ipc::IpcError::kRingEmpty) return false;
    fail_runner(slot, ipc::make_error(ipc::ErrorType::kBadResponse, std::string("bad response: ") + ipc::to_string(response.error())));
    return true;
  }
  handle_response(slot, *response);
  return true;
}

// One validated response of the request in `slot`: passed on, or the guest's error checked and
// passed on; a VM that misbehaved (bad response) or reported its own end is not reused.
void RunnerPool::handle_response(std::uint32_t slot, const ipc::Response& response) {
  RunnerProcess& r = runners_[slot];
  const auto request = static_cast<std::uint64_t>(r.request);
  std::string body(reinterpret_cast<const char*>(response.payload.data()), response.payload.size());
  const bool ok = response.status == static_cast<std::uint32_t>(ipc::ResponseStatus::kOk);
  r.release(response.slot);
  nlohmann::json error;
  if (ok) {
    if (const auto problem = response_problem(body)) {
      fail_runner(slot, ipc::make_error(ipc::ErrorType::kBadResponse, "bad response: " + *problem));
      return;
    }
  } else {
    std::string why;
    std::optional<GuestError> guest = parse_guest_error(body, &why);
    if (!guest) {
      fail_runner(slot, ipc::make_error(ipc::ErrorType::kBadResponse, "bad response: " + why));
      return;
    }
    if (ipc::discards_vm(guest->type)) {  // function_exited / out_of_memory: the guest stops its VM
      finish_error(request, std::move(guest->error));
      r.request = -1;
      fail_runner(slot, ipc::make_error(guest->type, "VM discarded after " + std::string(ipc::error_type_name(guest->type))));
      return;
    }
    error = std::move(guest->error);
  }
  function_succeeded(r.function);  // the VM works (a function_error is the function's own answer)
  r.request = -1;
  r.deadline = Clock::time_point::max();
  set_state(slot, ipc::RunnerState::kIdle);
  if (ok) {
    finish(request, "ok", nullptr, std::move(body));
  } else {
    finish_error(request, std::move(error));
  }
  apply(scheduler_.complete(slot, Clock::now()));
}

void RunnerPool::reap() {
  for (;;) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    for (RunnerProcess& r : runners_) {
      if (r.pid() != pid) continue;
      r.mark_reaped();
      // A reply pushed right before the exit (e.g. a failed restore) says more than the exit does.
      const unsigned generation = r.generation();
      (void)poll_runner(r.slot());
      if (r.generation() != generation || r.state == ipc::RunnerState::kStopped) continue;
      fail_runner(r.slot(), ipc::make_error(ipc::ErrorType::kRunnerFailed, "runner died (" + exit_text(status) + ")"));
    }
  }
}

// Deadlines and start timeouts; lowers `wake` to the next deadline. True when a runner was failed.
bool RunnerPool::check_timers(Clock::time_point now, Clock::time_point& wake) {
  bool failed = false;
  for (RunnerProcess& r : runners_) {
    if (r.deadline <= now) {
      const auto timeout = timeout_of(r.function).count();
      fail_runner(r.slot(), ipc::make_error(ipc::ErrorType::kTimeout,
                                       "deadline of " + std::to_string(timeout) + " ms exceeded: VM killed",
                                       {{"timeout_ms", timeout}}));
      failed = true;
    } else if (r.state == ipc::RunnerState::kStarting && now - r.started() > options_.start_timeout) {
      fail_runner(r.slot(), ipc::make_error(ipc::ErrorType::kRunnerFailed, "runner did not start"));
      failed = true;
    } else {
      wake = std::min(wake, r.deadline);
    }
  }
  return failed;
}

// Parks until a runner with work outstanding pushes a reply or response (ipc::wait_any over their
// supervisor doorbells), or `until`, whichever is first.
void RunnerPool::wait_for_event(Clock::time_point until) {
  std::vector<ipc::Doorbell*> bells;
  for (RunnerProcess& r : runners_) {
    if (awaits_runner(r)) bells.push_back(r.doorbell());
  }
  (void)ipc::wait_any(
      bells,
      [this] {
        return std::any_of(runners_.begin(), runners_.end(),
                           [](const RunnerProcess& r) { return awaits_runner(r) && r.readable(); });
      },
      until);  // kTimedOut: the loop re-checks its timers
}

void RunnerPool::run(const std::vector<WorkloadRequest>& workload, RunStats& stats, const ResultSink& sink,
                     const std::atomic<bool>& stop) {
  WorkloadSource source(workload, Clock::now());
  run(source, stats, sink, stop);
}

void RunnerPool::run(RequestSource& source, RunStats& stats, const ResultSink& sink, const std::atomic<bool>& stop) {
  stats_ = &stats;
  sink_ = &sink;
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
    }
    source.poll(now, submit_now);
    bool progress = false;
    for (std::uint32_t i = 0; i < runners_.size(); ++i) progress |= poll_runner(i);
    now = Clock::now();
    Clock::time_point wake = now + std::chrono::milliseconds(1);
    progress |= check_timers(now, wake);
    if (now >= scheduler_.next_expiry()) apply(scheduler_.tick(now));
    wake = std::min(wake, scheduler_.next_expiry());
    if (now - last_reap >= std::chrono::milliseconds(1) || !progress) {
      reap();
      last_reap = now;
    }
    if (now - last_console_drain >= std::chrono::milliseconds(5)) {
      drain_consoles();
      last_console_drain = now;
    }
    if (source.exhausted() && in_flight_.empty()) break;
    if (drain_until && now > *drain_until) {
      spdlog::warn("supervisor: drain timeout, {} requests unanswered", in_flight_.size());
      for (RunnerProcess& r : runners_) {
        if (r.request >= 0 || r.pending_cold >= 0) {
          fail_runner(r.slot(), ipc::make_error(ipc::ErrorType::kShutdown, "shutdown before completion"), false);
        }
      }
      break;
    }
    if (progress) continue;
    wait_for_event(std::min(wake, source.next_due()));
  }
  in_flight_.clear();  // after a drain timeout: queued requests are dropped with the run
  sink_ = nullptr;
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
