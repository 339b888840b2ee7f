// RunnerPool's runner-slot side (see runner_pool.h): spawning and starting runners, loading a
// function into one, sending it a request, reading its replies and responses, and its faults
// (deadlines, start timeouts, deaths, bad responses), each answered in ipc/error_type.h's
// vocabulary. The loop that calls these is runner_pool.cpp.
#include <sys/wait.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <optional>
#include <span>

#include "common/error.h"
#include "common/unique_fd.h"
#include "ipc/error_result.h"
#include "ipc/ipc_error.h"
#include "supervisor/response_check.h"
#include "supervisor/runner_pool.h"

namespace snapfaas::supervisor {
namespace {

[[nodiscard]] std::string exit_text(int status) {
  return WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                             : "exit " + std::to_string(WEXITSTATUS(status));
}

// A runner's count (RunnerTimes: a display figure it could lie about) clamped into the int64 of
// the records rather than trusted to fit.
[[nodiscard]] std::int64_t clamp_count(std::uint64_t n) noexcept {
  return static_cast<std::int64_t>(std::min(n, static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())));
}

}  // namespace

std::vector<std::uint32_t> RunnerPool::servable_functions(std::uint32_t slot) const {
  const std::vector<std::uint32_t>& pool_of_function = options_.scheduler.pool_of_function;
  std::vector<std::uint32_t> servable;
  for (std::uint32_t i = 0; i < functions_.size(); ++i) {
    if (pool_of_function.empty() || pool_of_function[i] == pool_of_slot_[slot]) servable.push_back(i);
  }
  return servable;
}

void RunnerPool::spawn(std::uint32_t slot) {
  common::UniqueFd console;  // closed once the child holds its copy
  if (!consoles_.empty()) console = consoles_[slot].open_pipe(runners_[slot].generation() + 1);
  runners_[slot].spawn(launches_[pool_of_slot_[slot]], jailer_, servable_functions(slot), console.get());
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

void RunnerPool::start_load(std::uint32_t slot, std::uint64_t request, std::uint32_t function) {
  RunnerProcess& r = runners_[slot];
  const FunctionConfig& f = functions_[function];
  const auto op = f.restores_snapshot() ? ipc::ControlOp::kRestore : ipc::ControlOp::kBoot;
  const std::uint64_t flags = (f.copy_base ? ipc::kLoadCopyBase : 0U) | (f.copy_diff ? ipc::kLoadCopyDiff : 0U) |
                              (f.load_ws ? ipc::kLoadWorkingSet : 0U);
  const auto now = Clock::now();
  r.function = function;
  r.request = static_cast<std::int64_t>(request);
  r.counts_request = -1;  // the counts the runner publishes from now on are this load's
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
  if (entry.record.cold) entry.record.sent_ms = ms_since_start(Clock::now());
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
  if (stats_block_) stats_block_->count_runner_failure();
  const auto now = Clock::now();
  if (had_function && blame_function) {
    health_.failed(function, now);
    // Just backed off: its queued requests are answered now, not when a runner frees up for them.
    if (const nlohmann::json unhealthy = health_.unhealthy_error(function, now); !unhealthy.is_null()) {
      for (const std::uint64_t queued : scheduler_.withdraw(function)) {
        if (auto it = in_flight_.find(queued); it != in_flight_.end()) it->second.record.dispatch_ms = ms_since_start(now);
        finish_error(queued, unhealthy);
      }
    }
  }
  const std::string message = error.value("message", std::string{});  // `error` is moved just below
  if (request >= 0) finish_error(static_cast<std::uint64_t>(request), std::move(error));
  apply(scheduler_.runner_failed(slot, now));
  if (options_.prespawn) {
    // Spawns failing with no function involved (a broken runner binary or host) cannot get better
    // by retrying forever; a function's failures only back that function off.
    if (!had_function && ++start_failures_ > 10 + 2 * runners_.size()) {
      throw common::Error("runners keep failing to start: " + message);
    }
    spawn(slot);
  } else {
    set_state(slot, ipc::RunnerState::kStopped);
    apply(scheduler_.runner_ready(slot, Clock::now()));
  }
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
  const double loaded_ms = ms_since_start(Clock::now());
  stats_->add_vm({slot, f.name, f.memory, f.restores_snapshot() ? "restore" : "boot", ms_since_start(r.load_started),
                  loaded_ms});
  if (const auto it = in_flight_.find(static_cast<std::uint64_t>(r.request)); it != in_flight_.end()) {
    it->second.record.loaded_ms = loaded_ms;
    it->second.record.runner_load_ms = static_cast<double>(reply.value) / 1e6;  // the runner's own figure
  }
  if (stats_block_) stats_block_->count_load(f.restores_snapshot());
  send_request(slot, static_cast<std::uint64_t>(r.request));
}

// Handles whatever `slot` has ready. Returns true when something happened.
bool RunnerPool::poll_runner(std::uint32_t slot) {
  RunnerProcess& r = runners_[slot];
  collect_counts(slot);
  if (!r.awaits_reply()) return false;
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
  if (ok) note_cold_phases(slot, request, body, response.restore_generation);
  health_.succeeded(r.function);  // the VM works (a function_error is the function's own answer)
  r.request = -1;
  r.deadline = Clock::time_point::max();
  set_state(slot, ipc::RunnerState::kIdle);
  if (ok) {
    finish(request, "ok", nullptr, std::move(body));
    collect_counts(slot);  // the record is in the stats now; before the slot may start another load
  } else {
    finish_error(request, std::move(error));
  }
  apply(scheduler_.complete(slot, Clock::now()));
}

// A cold request's last two marks: when the runner first handed its guest the request
// (RunnerTimes) and the handler's own time as the agent reports it ("duration_ns"); and which
// request KVM's counts for the guest until that response belong to (RunnerTimes; collect_counts).
void RunnerPool::note_cold_phases(std::uint32_t slot, std::uint64_t request, const std::string& body,
                                  std::uint32_t restore_generation) {
  const auto it = in_flight_.find(request);
  if (it == in_flight_.end() || !it->second.record.cold) return;
  RequestRecord& rec = it->second.record;
  rec.restore_generation = restore_generation;
  if (const std::uint64_t ready_ns = runners_[slot].guest_first_ready_ns(); ready_ns != 0) {
    const auto start_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(run_start_.time_since_epoch()).count();
    rec.guest_ready_ms = (static_cast<double>(ready_ns) - static_cast<double>(start_ns)) / 1e6;
  }
  // KVM's counts go into the record once it is in the stats (collect_counts): at once when the
  // runner published them already, else at a later poll (it publishes at the guest's next exit).
  runners_[slot].counts_request = static_cast<std::int64_t>(request);
  const nlohmann::json parsed = nlohmann::json::parse(body, nullptr, false);
  if (parsed.is_object()) {
    const auto d = parsed.find("duration_ns");
    if (d != parsed.end() && d->is_number_unsigned()) rec.handler_ms = static_cast<double>(d->get<std::uint64_t>()) / 1e6;
  }
}

void RunnerPool::collect_counts(std::uint32_t slot) {
  RunnerProcess& r = runners_[slot];
  // Only a cold request's counts are awaited. The runner's published counts stay up until its next
  // load: without this, every warm response after a counted cold one would look its (absent)
  // record up through the whole request log (200 000 warm requests: 270k/s fell to 4k/s).
  if (r.counts_request < 0) return;
  const std::optional<ipc::LoadCounters> counted = r.guest_load_counters();
  if (!counted) return;
  const auto request = static_cast<std::uint64_t>(std::exchange(r.counts_request, -1));
  if (stats_ == nullptr || !stats_->set_counts(request, clamp_count(counted->page_faults), clamp_count(counted->exits))) return;
  if (stats_block_) stats_block_->record_cold_counts(r.function, counted->page_faults, counted->exits);
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

}  // namespace snapfaas::supervisor
