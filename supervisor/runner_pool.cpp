// The supervisor's event loop (see runner_pool.h).
#include "supervisor/runner_pool.h"

#include <linux/futex.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <span>

#include "common/error.h"
#include "ipc/guest_abi.h"

namespace snapfaas::supervisor {
namespace {

constexpr std::uint32_t kChannelSlots = 4;

[[nodiscard]] std::vector<FunctionSpec> specs_of(const std::vector<FunctionConfig>& functions) {
  std::vector<FunctionSpec> specs;
  for (const auto& f : functions) specs.push_back({f.name, f.memory, f.concurrency_limit});
  return specs;
}

// Read-only peek at a ring of `channel`: true when the peer pushed entries we have not popped.
[[nodiscard]] bool ring_readable(const ipc::SupervisorChannel& channel, std::uint64_t offset) noexcept {
  // SAFETY: offset comes from the validated layout of our own region; RingIndices sits at its start.
  auto* indices = reinterpret_cast<ipc::RingIndices*>(channel.shm().data() + offset);
  const std::uint64_t tail = std::atomic_ref(indices->tail).load(std::memory_order_acquire);  // pairs with the producer's release
  const std::uint64_t head = std::atomic_ref(indices->head).load(std::memory_order_relaxed);  // our own index
  return tail != head;
}

[[nodiscard]] bool channel_readable(const ipc::SupervisorChannel& channel) noexcept {
  return ring_readable(channel, channel.layout().response_offset) ||
         ring_readable(channel, channel.layout().control_reply_offset);
}

#ifndef FUTEX_32
#define FUTEX_32 2
#endif
struct FutexWaiter {
  std::uint64_t val;
  std::uint64_t uaddr;
  std::uint32_t flags;
  std::uint32_t reserved;
};
constexpr std::size_t kMaxWaiters = 128;  // FUTEX_WAITV_MAX

}  // namespace

RunnerPool::RunnerPool(PoolOptions options, std::vector<FunctionConfig> functions, Jailer& jailer)
    : options_(std::move(options)), functions_(std::move(functions)), jailer_(jailer),
      scheduler_(options_.scheduler, specs_of(functions_)), runners_(options_.scheduler.runners) {
  if (!options_.stats_name.empty()) {
    stats_block_.emplace(ipc::StatsWriter::create(options_.stats_name, options_.scheduler.runners));
  }
}

RunnerPool::~RunnerPool() { shutdown(); }

double RunnerPool::ms_since_start(Clock::time_point t) const noexcept {
  return std::chrono::duration<double, std::milli>(t - run_start_).count();
}

void RunnerPool::set_state(std::uint32_t slot, ipc::RunnerState state) noexcept {
  if (stats_block_) stats_block_->set_state(slot, state);
}

std::vector<pid_t> RunnerPool::runner_pids() const {
  std::vector<pid_t> pids;
  for (const auto& r : runners_) {
    if (r.pid > 0) pids.push_back(r.pid);
  }
  return pids;
}

void RunnerPool::spawn(std::uint32_t slot) {
  Runner& r = runners_[slot];
  ++r.generation;
  const std::string name = "/snapfaas-" + std::to_string(::getpid()) + "-r" + std::to_string(slot) + "-g" +
                           std::to_string(r.generation);
  r.channel.emplace(ipc::SupervisorChannel::create(name, {ipc::kDefaultSlotSize, kChannelSlots}));
  JailSpec spec;
  spec.binary = options_.runner_binary;
  spec.args = options_.runner_args;
  spec.args.insert(spec.args.end(), {"--channel", name});
  spec.read_only = options_.read_only;
  spec.shm_name = name;
  spec.hostname = "runner-" + std::to_string(slot);
  r.pid = jailer_.spawn(spec, slot);
  r.phase = Phase::kStarting;
  r.started = Clock::now();
  r.request = -1;
  r.deadline = Clock::time_point::max();
  if (!r.channel->send_control({++r.command_id, static_cast<std::uint32_t>(ipc::ControlOp::kPing),
                                ipc::kPingGuestReady, 0, 0})) {
    throw common::Error("runner " + std::to_string(slot) + ": control ring full at start");
  }
  set_state(slot, ipc::RunnerState::kStarting);
}

void RunnerPool::kill_runner(std::uint32_t slot) noexcept {
  Runner& r = runners_[slot];
  if (r.pid > 0) {
    ::kill(r.pid, SIGKILL);
    int status = 0;
    while (::waitpid(r.pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  r.pid = -1;
  r.channel.reset();  // unlinks the shm object
  r.phase = Phase::kNone;
  r.request = -1;
  r.deadline = Clock::time_point::max();
  set_state(slot, ipc::RunnerState::kStopped);
}

void RunnerPool::start() {
  if (!options_.prespawn) {
    for (std::uint32_t i = 0; i < runners_.size(); ++i) {
      apply(scheduler_.runner_ready(i, Clock::now()));
      set_state(i, ipc::RunnerState::kEmpty);
    }
    return;
  }
  for (std::uint32_t i = 0; i < runners_.size(); ++i) spawn(i);
  const auto give_up = Clock::now() + options_.start_timeout;
  for (;;) {
    bool all = true;
    for (std::uint32_t i = 0; i < runners_.size(); ++i) {
      Runner& r = runners_[i];
      if (r.phase != Phase::kStarting) continue;
      if (auto reply = r.channel->try_control_reply()) {
        r.phase = Phase::kReady;
        set_state(i, ipc::RunnerState::kIdle);
        (void)scheduler_.runner_ready(i, Clock::now());
        continue;
      }
      int status = 0;
      if (::waitpid(r.pid, &status, WNOHANG) == r.pid) {
        r.pid = -1;
        const std::string how = WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                                                    : "exit " + std::to_string(WEXITSTATUS(status));
        throw common::Error("runner " + std::to_string(i) + " (" + options_.runner_binary + ") died during start (" +
                            how + ")");
      }
      all = false;
    }
    if (all) break;
    if (Clock::now() > give_up) throw common::Error("runners did not answer kPing within the start timeout");
    wait_for_event(Clock::now() + std::chrono::milliseconds(1));
  }
  spdlog::info("supervisor: {} runners ready", runners_.size());
}

void RunnerPool::finish(std::uint64_t request, std::string status, std::string error, std::string response) {
  RequestRecord& rec = records_[request];
  rec.status = std::move(status);
  rec.error = std::move(error);
  rec.response = std::move(response);
  rec.done_ms = ms_since_start(Clock::now());
  if (rec.runner >= 0 && stats_block_) {
    stats_block_->record_request(static_cast<std::uint32_t>(rec.runner), rec.cold, rec.status != "ok",
                                 static_cast<std::uint64_t>(rec.latency_ms() * 1000.0));
  }
  if (*sink_) (*sink_)(rec);
  stats_->add_request(rec);
  --outstanding_;
}

void RunnerPool::apply(const std::vector<Action>& actions) {
  for (const Action& a : actions) {
    switch (a.kind) {
      case ActionKind::kRunWarm:
        records_[a.request].cold = false;
        records_[a.request].runner = a.runner;
        send_request(a.runner, a.request);
        break;
      case ActionKind::kRunCold:
        records_[a.request].cold = true;
        records_[a.request].runner = a.runner;
        if (runners_[a.runner].phase == Phase::kNone) {
          runners_[a.runner].pending_cold = static_cast<std::int64_t>(a.request);
          runners_[a.runner].function = a.function;
          spawn(a.runner);
        } else {
          start_load(a.runner, a.request, a.function);
        }
        break;
      case ActionKind::kEvict:
        if (stats_) stats_->count_eviction();
        kill_runner(a.runner);
        if (options_.prespawn) {
          spawn(a.runner);
        } else {
          apply(scheduler_.runner_ready(a.runner, Clock::now()));
          set_state(a.runner, ipc::RunnerState::kEmpty);
        }
        break;
      case ActionKind::kDrop:
        records_[a.request].dispatch_ms = ms_since_start(Clock::now());
        finish(a.request, "dropped", "dropped: no capacity", "");
        break;
    }
  }
}

void RunnerPool::start_load(std::uint32_t slot, std::uint64_t request, std::uint32_t function) {
  Runner& r = runners_[slot];
  const FunctionConfig& f = functions_[function];
  const auto op = f.restores_snapshot() ? ipc::ControlOp::kRestore : ipc::ControlOp::kBoot;
  const std::uint64_t flags = (f.copy_base ? 1U : 0U) | (f.copy_diff ? 2U : 0U);
  r.function = function;
  r.request = static_cast<std::int64_t>(request);
  r.load_start_ms = ms_since_start(Clock::now());
  records_[request].dispatch_ms = r.load_start_ms;
  r.deadline = options_.deadline.count() > 0 ? Clock::now() + options_.deadline : Clock::time_point::max();
  if (stats_block_) stats_block_->set_function(slot, f.name);
  set_state(slot, ipc::RunnerState::kRestoring);
  if (!r.channel->send_control({++r.command_id, static_cast<std::uint32_t>(op), function, flags, 0})) {
    fail_runner(slot, "control ring full");
    return;
  }
  r.phase = Phase::kLoading;
}

void RunnerPool::send_request(std::uint32_t slot, std::uint64_t request) {
  Runner& r = runners_[slot];
  const std::string& payload = (*workload_)[request].payload;
  r.request = static_cast<std::int64_t>(request);
  if (records_[request].dispatch_ms == 0) records_[request].dispatch_ms = ms_since_start(Clock::now());
  if (r.deadline == Clock::time_point::max() && options_.deadline.count() > 0) {
    r.deadline = Clock::now() + options_.deadline;
  }
  const auto sent = r.channel->send_copy(
      request, std::span(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()));
  if (!sent) {
    r.request = -1;
    r.deadline = Clock::time_point::max();
    r.phase = Phase::kReady;
    finish(request, "error", std::string("request not sent: ") + ipc::to_string(sent.error()), "");
    apply(scheduler_.complete(slot, Clock::now()));
    return;
  }
  r.phase = Phase::kBusy;
  set_state(slot, ipc::RunnerState::kBusy);
}

void RunnerPool::fail_runner(std::uint32_t slot, const std::string& why) {
  Runner& r = runners_[slot];
  const std::int64_t request = r.request >= 0 ? r.request : r.pending_cold;
  spdlog::warn("supervisor: runner {} (pid {}): {}", slot, r.pid, why);
  kill_runner(slot);
  r.pending_cold = -1;
  set_state(slot, ipc::RunnerState::kFailed);
  if (stats_) stats_->count_runner_failure();
  if (request >= 0 && workload_ != nullptr) finish(static_cast<std::uint64_t>(request), "error", why, "");
  apply(scheduler_.runner_failed(slot, Clock::now()));
  if (options_.prespawn) {
    if (++start_failures_ > 10 + 2 * runners_.size()) throw common::Error("too many runner failures: " + why);
    spawn(slot);
  } else {
    apply(scheduler_.runner_ready(slot, Clock::now()));
  }
}

// Handles whatever `slot` has ready. Returns true when something happened.
bool RunnerPool::poll_runner(std::uint32_t slot) {
  Runner& r = runners_[slot];
  if (r.phase == Phase::kNone || r.phase == Phase::kReady || !r.channel) return false;
  if (auto reply = r.channel->try_control_reply()) {
    if (r.phase == Phase::kStarting) {
      r.phase = Phase::kReady;
      set_state(slot, ipc::RunnerState::kIdle);
      if (r.pending_cold >= 0) {
        const auto request = static_cast<std::uint64_t>(std::exchange(r.pending_cold, -1));
        start_load(slot, request, r.function);
      } else {
        apply(scheduler_.runner_ready(slot, Clock::now()));
      }
    } else if (r.phase == Phase::kLoading) {
      // firerunner boots the --kernel it was started with and answers kBoot with ENOTSUP: for a
      // function that is that kernel (ring-3 guests) the VM is already there.
      const bool booted_at_spawn = reply->status == ENOTSUP &&
                                   reply->op == static_cast<std::uint32_t>(ipc::ControlOp::kBoot) &&
                                   !functions_[r.function].restores_snapshot();
      if (reply->status != 0 && !booted_at_spawn) {
        const bool restore = reply->op == static_cast<std::uint32_t>(ipc::ControlOp::kRestore);
        fail_runner(slot, std::string(restore ? "restore" : "load") + " of " + functions_[r.function].name +
                              " failed in the runner: " + std::strerror(reply->status) + " (status " +
                              std::to_string(reply->status) + "; its log line says why)");
        return true;
      }
      const FunctionConfig& f = functions_[r.function];
      stats_->add_vm({slot, f.name, f.memory, f.restores_snapshot() ? "restore" : "boot", r.load_start_ms,
                      ms_since_start(Clock::now())});
      send_request(slot, static_cast<std::uint64_t>(r.request));
    }
    return true;
  }
  if (r.phase != Phase::kBusy) return false;
  auto response = r.channel->try_receive();
  if (!response) {
    if (response.error() == ipc::IpcError::kRingEmpty) return false;
    fail_runner(slot, std::string("bad response: ") + ipc::to_string(response.error()));
    return true;
  }
  const auto request = static_cast<std::uint64_t>(r.request);
  std::string body(reinterpret_cast<const char*>(response->payload.data()), response->payload.size());
  const bool ok = response->status == static_cast<std::uint32_t>(ipc::ResponseStatus::kOk);
  (void)r.channel->release(response->slot);
  r.request = -1;
  r.deadline = Clock::time_point::max();
  r.phase = Phase::kReady;
  set_state(slot, ipc::RunnerState::kIdle);
  finish(request, ok ? "ok" : "error", ok ? "" : "handler error (status " + std::to_string(response->status) + ")",
         std::move(body));
  apply(scheduler_.complete(slot, Clock::now()));
  return true;
}

void RunnerPool::reap() {
  for (;;) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    for (std::uint32_t i = 0; i < runners_.size(); ++i) {
      if (runners_[i].pid != pid) continue;
      runners_[i].pid = -1;  // already reaped
      // A reply pushed right before the exit (e.g. a failed restore) says more than the exit does.
      const unsigned generation = runners_[i].generation;
      (void)poll_runner(i);
      if (runners_[i].generation != generation || runners_[i].phase == Phase::kNone) continue;
      const std::string how = WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                                                  : "exit " + std::to_string(WEXITSTATUS(status));
      fail_runner(i, "runner died (" + how + ")");
    }
  }
}

// Parks until a runner pushes a reply or response (futex_waitv over the supervisor doorbells of
// every runner with work outstanding) or `until`, whichever is first.
void RunnerPool::wait_for_event(Clock::time_point until) {
  std::vector<FutexWaiter> waiters;
  std::vector<ipc::DoorbellWord*> words;
  for (auto& r : runners_) {
    if (!r.channel || r.phase == Phase::kReady || r.phase == Phase::kNone) continue;
    if (waiters.size() == kMaxWaiters) break;
    // SAFETY: the doorbell word lives at a fixed offset of our own validated region.
    auto* word = reinterpret_cast<ipc::DoorbellWord*>(r.channel->shm().data() + ipc::kSupervisorDoorbellOffset);
    const std::uint32_t key = std::atomic_ref(word->seq).load(std::memory_order_acquire);  // pairs with wake()
    std::atomic_ref(word->sleeping).fetch_add(1, std::memory_order_relaxed);  // a count (ipc/doorbell.h)
    words.push_back(word);
    waiters.push_back({key, reinterpret_cast<std::uint64_t>(&word->seq), FUTEX_32, 0});
  }
  std::atomic_thread_fence(std::memory_order_seq_cst);  // pairs with Doorbell::needs_wake's fence
  bool ready = false;
  for (auto& r : runners_) {
    if (r.channel && r.phase != Phase::kReady && r.phase != Phase::kNone && channel_readable(*r.channel)) ready = true;
  }
  if (!ready && until > Clock::now()) {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(until.time_since_epoch()).count();
    timespec deadline{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
    if (waiters.empty()) {
      ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, nullptr);
    } else if (::syscall(SYS_futex_waitv, waiters.data(), waiters.size(), 0, &deadline, CLOCK_MONOTONIC) < 0 &&
               errno == ENOSYS) {
      timespec pause{0, 50'000};
      ::nanosleep(&pause, nullptr);
    }
  }
  for (auto* word : words) std::atomic_ref(word->sleeping).fetch_sub(1, std::memory_order_relaxed);
}

void RunnerPool::run(const std::vector<WorkloadRequest>& workload, RunStats& stats, const ResultSink& sink,
                     const std::atomic<bool>& stop) {
  workload_ = &workload;
  stats_ = &stats;
  sink_ = &sink;
  records_.assign(workload.size(), {});
  outstanding_ = 0;
  run_start_ = Clock::now();
  std::map<std::string, std::uint32_t> index;
  for (std::uint32_t i = 0; i < functions_.size(); ++i) index[functions_[i].name] = i;
  std::size_t next = 0;
  auto last_reap = Clock::now();
  std::optional<Clock::time_point> drain_until;
  for (;;) {
    auto now = Clock::now();
    if (stop.load(std::memory_order_relaxed) && !drain_until) {
      drain_until = now + options_.drain_timeout;
      stats.set_not_submitted(workload.size() - next);
      spdlog::info("supervisor: stopping: draining {} in-flight requests, {} not submitted", outstanding_,
                   workload.size() - next);
      next = workload.size();
    }
    while (next < workload.size() && run_start_ + std::chrono::milliseconds(workload[next].time_ms) <= now) {
      const WorkloadRequest& w = workload[next];
      RequestRecord& rec = records_[next];
      rec.id = next;
      rec.function = w.function;
      rec.user_id = w.user_id;
      rec.arrival_ms = ms_since_start(now);
      ++outstanding_;
      const auto f = index.find(w.function);
      if (f == index.end()) {
        rec.dispatch_ms = rec.arrival_ms;
        finish(next, "error", "unknown function '" + w.function + "'", "");
      } else {
        apply(scheduler_.submit(next, f->second, now));
      }
      ++next;
    }
    bool progress = false;
    for (std::uint32_t i = 0; i < runners_.size(); ++i) progress |= poll_runner(i);
    now = Clock::now();
    Clock::time_point wake = now + std::chrono::milliseconds(1);
    for (std::uint32_t i = 0; i < runners_.size(); ++i) {
      Runner& r = runners_[i];
      if (r.deadline <= now) {
        fail_runner(i, "deadline exceeded (" + std::to_string(options_.deadline.count()) + " ms)");
        progress = true;
      } else if (r.phase == Phase::kStarting && now - r.started > options_.start_timeout) {
        fail_runner(i, "runner did not start");
        progress = true;
      } else {
        wake = std::min(wake, r.deadline);
      }
    }
    if (now >= scheduler_.next_expiry()) apply(scheduler_.tick(now));
    wake = std::min(wake, scheduler_.next_expiry());
    if (now - last_reap >= std::chrono::milliseconds(1) || !progress) {
      reap();
      last_reap = now;
    }
    if (next == workload.size() && outstanding_ == 0) break;
    if (drain_until && now > *drain_until) {
      spdlog::warn("supervisor: drain timeout, {} requests unanswered", outstanding_);
      for (std::uint32_t i = 0; i < runners_.size(); ++i) {
        if (runners_[i].request >= 0 || runners_[i].pending_cold >= 0) fail_runner(i, "shutdown before completion");
      }
      break;
    }
    if (progress) continue;
    if (next < workload.size()) wake = std::min(wake, run_start_ + std::chrono::milliseconds(workload[next].time_ms));
    wait_for_event(wake);
  }
  workload_ = nullptr;
}

void RunnerPool::shutdown() noexcept {
  for (std::uint32_t i = 0; i < runners_.size(); ++i) {
    Runner& r = runners_[i];
    if (r.channel && r.pid > 0) {
      (void)r.channel->send_control({++r.command_id, static_cast<std::uint32_t>(ipc::ControlOp::kShutdown), 0, 0, 0});
    }
    kill_runner(i);
  }
}

}  // namespace snapfaas::supervisor
