// The placement policy (see scheduler.h).
#include "supervisor/scheduler.h"

#include "common/error.h"

namespace snapfaas::supervisor {

Scheduler::Scheduler(SchedulerOptions options, std::vector<FunctionConfig> functions)
    : options_(options), functions_(std::move(functions)), slots_(options.runners),
      vms_per_function_(functions_.size(), 0) {
  if (options_.runners == 0) throw common::Error("scheduler: at least one runner is needed");
  if (functions_.empty()) throw common::Error("scheduler: no functions");
  for (const auto& f : functions_) {
    if (f.memory == 0 || f.concurrency_limit == 0) {
      throw common::Error("scheduler: function '" + f.name + "' needs memory and concurrency_limit > 0");
    }
    if (f.memory > options_.mem_mib) {
      throw common::Error("scheduler: function '" + f.name + "' needs " + std::to_string(f.memory) +
                          " MiB, more than the budget of " + std::to_string(options_.mem_mib) + " MiB");
    }
  }
}

std::vector<Action> Scheduler::submit(std::uint64_t request, std::uint32_t function, TimePoint now) {
  std::vector<Action> out;
  if (function >= functions_.size()) {
    ++counters_.dropped;
    out.push_back({ActionKind::kDrop, request, 0, function});
    return out;
  }
  queue_.push_back({request, function});
  dispatch(now, out);
  if (queue_.size() > options_.queue_limit) {
    // Only the newest request can be the one past the bound: everything before it fitted.
    const Pending last = queue_.back();
    queue_.pop_back();
    ++counters_.dropped;
    out.push_back({ActionKind::kDrop, last.request, 0, last.function});
  }
  return out;
}

std::vector<Action> Scheduler::complete(std::uint32_t runner, TimePoint now) {
  std::vector<Action> out;
  Slot& slot = slots_.at(runner);
  if (slot.state != ipc::RunnerState::kBusy) return out;
  slot.state = ipc::RunnerState::kIdle;
  slot.last_used = now;
  dispatch(now, out);
  return out;
}

std::vector<Action> Scheduler::runner_ready(std::uint32_t runner, TimePoint now) {
  std::vector<Action> out;
  Slot& slot = slots_.at(runner);
  if (slot.state == ipc::RunnerState::kBusy || slot.state == ipc::RunnerState::kIdle) release(runner);
  slot.state = ipc::RunnerState::kEmpty;
  dispatch(now, out);
  return out;
}

std::vector<Action> Scheduler::runner_failed(std::uint32_t runner, TimePoint now) {
  std::vector<Action> out;
  release(runner);
  slots_.at(runner).state = ipc::RunnerState::kStarting;
  dispatch(now, out);
  return out;
}

std::vector<std::uint64_t> Scheduler::withdraw(std::uint32_t function) {
  std::vector<std::uint64_t> taken;
  std::erase_if(queue_, [&](const Pending& p) {
    if (p.function != function) return false;
    taken.push_back(p.request);
    return true;
  });
  return taken;
}

std::vector<Action> Scheduler::tick(TimePoint now) {
  std::vector<Action> out;
  if (options_.keep_alive.count() > 0) {
    for (std::uint32_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].state == ipc::RunnerState::kIdle && now - slots_[i].last_used >= options_.keep_alive) evict(i, out);
    }
  }
  dispatch(now, out);
  return out;
}

TimePoint Scheduler::next_expiry() const noexcept {
  TimePoint next = TimePoint::max();
  if (options_.keep_alive.count() == 0) return next;
  for (const Slot& s : slots_) {
    if (s.state == ipc::RunnerState::kIdle && s.last_used + options_.keep_alive < next) next = s.last_used + options_.keep_alive;
  }
  return next;
}

void Scheduler::release(std::uint32_t runner) {
  Slot& slot = slots_.at(runner);
  if (slot.state == ipc::RunnerState::kBusy || slot.state == ipc::RunnerState::kIdle) {
    used_mib_ -= functions_[slot.function].memory;
    --vms_per_function_[slot.function];
  }
}

void Scheduler::evict(std::uint32_t runner, std::vector<Action>& out) {
  const std::uint32_t function = slots_[runner].function;
  release(runner);
  slots_[runner].state = ipc::RunnerState::kStarting;
  ++counters_.evictions;
  out.push_back({ActionKind::kEvict, 0, runner, function});
}

std::int64_t Scheduler::find_idle_mru(std::uint32_t function) const noexcept {
  std::int64_t best = -1;
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    const Slot& s = slots_[i];
    if (s.state == ipc::RunnerState::kIdle && s.function == function &&
        (best < 0 || s.last_used > slots_[static_cast<std::size_t>(best)].last_used)) {
      best = static_cast<std::int64_t>(i);
    }
  }
  return best;
}

std::int64_t Scheduler::find_idle_lru() const noexcept {
  std::int64_t best = -1;
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    const Slot& s = slots_[i];
    if (s.state == ipc::RunnerState::kIdle && (best < 0 || s.last_used < slots_[static_cast<std::size_t>(best)].last_used)) {
      best = static_cast<std::int64_t>(i);
    }
  }
  return best;
}

std::int64_t Scheduler::find_empty() const noexcept {
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].state == ipc::RunnerState::kEmpty) return static_cast<std::int64_t>(i);
  }
  return -1;
}

// One FIFO pass over the queue. A request that cannot run yet stays queued, later requests of
// other functions may pass it. Room that is on its way (slots being recycled, memory already freed)
// is reserved for earlier requests within the pass so that one free slot is not evicted for twice.
void Scheduler::dispatch(TimePoint now, std::vector<Action>& out) {
  std::uint64_t spare_mib = options_.mem_mib - used_mib_;
  std::size_t spare_slots = 0;  // empty + not-ready slots not yet promised to a queued request
  for (const Slot& s : slots_) {
    if (s.state == ipc::RunnerState::kEmpty || s.state == ipc::RunnerState::kStarting) ++spare_slots;
  }
  std::size_t idle_vms = 0;
  for (const Slot& s : slots_) idle_vms += s.state == ipc::RunnerState::kIdle ? 1 : 0;
  // A function found unplaceable in this pass stays so for the rest of it (resources only shrink
  // within a pass), so later requests for it are skipped in O(1), and the pass ends when nothing
  // can be placed at all. Keeps a long queue from costing O(queue) work per completion.
  std::vector<bool> blocked(functions_.size(), false);
  std::size_t blocked_count = 0;
  auto block = [&](std::uint32_t f) {
    if (!blocked[f]) {
      blocked[f] = true;
      ++blocked_count;
    }
  };
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (blocked_count == functions_.size() || (idle_vms == 0 && spare_slots == 0)) break;
    const std::uint32_t f = it->function;
    if (blocked[f]) {
      ++it;
      continue;
    }
    if (const std::int64_t idle = find_idle_mru(f); idle >= 0) {
      --idle_vms;
      Slot& s = slots_[static_cast<std::size_t>(idle)];
      s.state = ipc::RunnerState::kBusy;
      s.last_used = now;
      ++counters_.warm;
      out.push_back({ActionKind::kRunWarm, it->request, static_cast<std::uint32_t>(idle), f});
      it = queue_.erase(it);
      continue;
    }
    if (vms_per_function_[f] >= functions_[f].concurrency_limit) {
      block(f);
      ++it;
      continue;
    }
    const std::uint64_t need = functions_[f].memory;
    // Make room: evict least recently used idle VMs (any function) until memory and a slot suffice.
    while (spare_mib < need || spare_slots == 0) {
      const std::int64_t victim = find_idle_lru();
      if (victim < 0) break;
      spare_mib += functions_[slots_[static_cast<std::size_t>(victim)].function].memory;
      ++spare_slots;
      --idle_vms;
      evict(static_cast<std::uint32_t>(victim), out);
    }
    if (spare_mib < need || spare_slots == 0) {
      block(f);
      ++it;
      continue;
    }
    spare_mib -= need;
    --spare_slots;
    if (const std::int64_t empty = find_empty(); empty >= 0) {
      Slot& s = slots_[static_cast<std::size_t>(empty)];
      s.state = ipc::RunnerState::kBusy;
      s.function = f;
      s.last_used = now;
      used_mib_ += need;
      ++vms_per_function_[f];
      ++counters_.cold;
      out.push_back({ActionKind::kRunCold, it->request, static_cast<std::uint32_t>(empty), f});
      it = queue_.erase(it);
      continue;
    }
    ++it;  // room reserved; waits for a runner to become ready
  }
}

}  // namespace snapfaas::supervisor
