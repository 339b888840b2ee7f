// Stats block: seqlock writes by the supervisor, consistent snapshots for readers elsewhere.
// Seqlock per Boehm, "Can seqlocks get along with programming language memory models?" (2012):
// every field is accessed atomically (relaxed), ordered by fences around the sequence counter.
#include "ipc/stats_block.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstring>
#include <string>
#include <utility>

#include "common/error.h"

namespace snapfaas::ipc {

namespace {

static_assert(std::atomic_ref<std::uint64_t>::is_always_lock_free && std::atomic_ref<std::uint32_t>::is_always_lock_free);

constexpr std::uint64_t totals_offset() { return sizeof(StatsHeader); }
constexpr std::uint64_t runners_offset() { return totals_offset() + sizeof(StatsTotals); }
constexpr std::uint64_t functions_offset(std::uint32_t runners) {
  return runners_offset() + std::uint64_t{runners} * sizeof(StatsEntry);
}
constexpr std::uint64_t total_size_for(std::uint32_t runners, std::uint32_t functions) {
  return functions_offset(runners) + std::uint64_t{functions} * sizeof(StatsFunctionEntry);
}

// Readers map the block read-only; lock-free atomic loads of these sizes are plain loads on
// x86-64 and aarch64, so atomic_ref over const memory never writes.
template <typename T>
T load(const T& field) noexcept {
  return std::atomic_ref(const_cast<T&>(field)).load(std::memory_order_relaxed);
}

template <typename T>
void store(T& field, T value) noexcept {
  std::atomic_ref(field).store(value, std::memory_order_relaxed);
}

template <typename T>
void bump(T& field, T by = 1) noexcept {
  store(field, static_cast<T>(load(field) + by));
}

// Writer side of the seqlock around `update` (single writer, so reading our own fields is race-free).
template <typename F>
void seqlock_write(std::uint32_t& sequence, F&& update) noexcept {
  auto seq = std::atomic_ref(sequence);
  const std::uint32_t s = seq.load(std::memory_order_relaxed);
  seq.store(s + 1, std::memory_order_relaxed);          // odd: update in progress
  std::atomic_thread_fence(std::memory_order_release);  // odd seq before field stores; pairs with reader's acquire fence
  update();
  seq.store(s + 2, std::memory_order_release);  // fields before even seq; pairs with reader's acquire load
}

// Reader side: `copy` loads every field into a private snapshot; retried while the writer is in.
template <typename F>
bool seqlock_read(const std::uint32_t& sequence, F&& copy) noexcept {
  auto seq = std::atomic_ref(const_cast<std::uint32_t&>(sequence));
  for (int attempt = 0; attempt < 100000; ++attempt) {
    const std::uint32_t s1 = seq.load(std::memory_order_acquire);  // pairs with the writer's final release store
    if (s1 & 1U) continue;
    copy();
    std::atomic_thread_fence(std::memory_order_acquire);  // field loads before the re-check; pairs with writer's release fence
    if (seq.load(std::memory_order_relaxed) == s1) return true;
  }
  return false;
}

// Writer only, before the header's magic (no reader can be looking yet).
void copy_name(char* out, std::size_t size, std::string_view name) noexcept {
  const std::size_t n = std::min(name.size(), size - 1);
  for (std::size_t i = 0; i < size; ++i) out[i] = i < n ? name[i] : '\0';
}

}  // namespace

const char* runner_state_name(RunnerState state) noexcept {
  switch (state) {
    case RunnerState::kEmpty: return "empty";
    case RunnerState::kStarting: return "starting";
    case RunnerState::kIdle: return "idle";
    case RunnerState::kBusy: return "busy";
    case RunnerState::kLoading: return "loading";
    case RunnerState::kStopped: return "stopped";
    case RunnerState::kFailed: return "failed";
  }
  return "?";
}

std::size_t latency_bucket(std::uint64_t latency_us) noexcept {
  if (latency_us == 0) return 0;
  const std::size_t b = static_cast<std::size_t>(std::bit_width(latency_us)) - 1;
  return b < kLatencyBuckets ? b : kLatencyBuckets - 1;
}

// ---- StatsWriter ----

StatsWriter StatsWriter::create(std::string_view name, const StatsShape& shape) {
  const std::string what = "stats block " + std::string(name) + ": ";
  if (shape.runners == 0 || shape.runners > kMaxStatsRunners) {
    throw common::Error(what + "runner count " + std::to_string(shape.runners) + " out of range 1.." +
                        std::to_string(kMaxStatsRunners));
  }
  if (shape.functions.size() > kMaxStatsFunctions) {
    throw common::Error(what + std::to_string(shape.functions.size()) + " functions, at most " +
                        std::to_string(kMaxStatsFunctions));
  }
  if (shape.outcomes.empty() || shape.outcomes.size() > kMaxOutcomes) {
    throw common::Error(what + "outcome count " + std::to_string(shape.outcomes.size()) + " out of range 1.." +
                        std::to_string(kMaxOutcomes));
  }
  const auto functions = static_cast<std::uint32_t>(shape.functions.size());
  // This process's own name (stats_object_name(getpid()), the supervisor's) already there: left by
  // an earlier process with this pid that was killed before it could remove it (SIGKILL). No live
  // process can own it (the pid is ours), so it is replaced instead of failing the start.
  const bool stale = name == stats_object_name(::getpid()) && ShmObject::remove(name);
  ShmObject shm = ShmObject::create(name, total_size_for(shape.runners, functions), 0644);  // snapfaas-stat reads it
  StatsWriter writer(std::move(shm), shape.runners, functions);
  writer.replaced_stale_ = stale;
  writer.outcome_count_ = static_cast<std::uint32_t>(shape.outcomes.size());
  // Names first (the zero-filled object is not valid until the magic is there).
  for (std::size_t i = 0; i < shape.outcomes.size(); ++i) {
    copy_name(writer.totals().outcome_names[i], kOutcomeNameSize, shape.outcomes[i]);
  }
  for (std::uint32_t i = 0; i < functions; ++i) {
    copy_name(writer.function_entry(i)->name, kFunctionNameSize, shape.functions[i]);
  }
  StatsHeader h{};
  h.version = kStatsVersion;
  h.header_size = sizeof(StatsHeader);
  h.entry_size = sizeof(StatsEntry);
  h.runner_count = shape.runners;
  h.total_size = total_size_for(shape.runners, functions);
  h.totals_size = sizeof(StatsTotals);
  h.function_entry_size = sizeof(StatsFunctionEntry);
  h.function_count = functions;
  h.outcome_count = writer.outcome_count_;
  if (!shape.console_dir.empty()) {
    std::memcpy(h.console_dir, shape.console_dir.data(), std::min(shape.console_dir.size(), kConsoleDirSize - 1));
  }
  std::memcpy(writer.shm_.data(), &h, sizeof h);
  // Everything above before the magic; pairs with the acquire load of the magic in open().
  std::atomic_ref(*reinterpret_cast<std::uint64_t*>(writer.shm_.data())).store(kStatsMagic, std::memory_order_release);
  return writer;
}

StatsWriter::StatsWriter(ShmObject shm, std::uint32_t runner_count, std::uint32_t function_count) noexcept
    : shm_(std::move(shm)), runner_count_(runner_count), function_count_(function_count) {}

StatsTotals& StatsWriter::totals() const noexcept {
  // SAFETY: the object holds total_size_for(...) bytes; StatsTotals starts 64-byte aligned at 64.
  return *reinterpret_cast<StatsTotals*>(shm_.data() + totals_offset());
}

StatsEntry* StatsWriter::entry(std::uint32_t runner) const noexcept {
  if (runner >= runner_count_) return nullptr;
  // SAFETY: runner < runner_count and the object holds total_size_for(runner_count, ...) bytes;
  // entries are 64-byte aligned (page-aligned mapping, sizes multiples of 64).
  return reinterpret_cast<StatsEntry*>(shm_.data() + runners_offset()) + runner;
}

StatsFunctionEntry* StatsWriter::function_entry(std::uint32_t function) const noexcept {
  if (function >= function_count_) return nullptr;
  // SAFETY: function < function_count, within total_size_for(runner_count, function_count).
  return reinterpret_cast<StatsFunctionEntry*>(shm_.data() + functions_offset(runner_count_)) + function;
}

bool StatsWriter::set_state(std::uint32_t runner, RunnerState state) noexcept {
  StatsEntry* e = entry(runner);
  if (e == nullptr) return false;
  seqlock_write(e->seq, [&] { store(e->state, static_cast<std::uint32_t>(state)); });
  return true;
}

bool StatsWriter::set_function(std::uint32_t runner, std::string_view function) noexcept {
  StatsEntry* e = entry(runner);
  if (e == nullptr) return false;
  const std::size_t n = std::min(function.size(), kFunctionNameSize - 1);
  seqlock_write(e->seq, [&] {
    for (std::size_t i = 0; i < kFunctionNameSize; ++i) store(e->function[i], i < n ? function[i] : '\0');
  });
  return true;
}

void StatsWriter::record_request(const RequestSample& sample) noexcept {
  const std::size_t bucket = latency_bucket(sample.latency_us);
  const std::uint32_t outcome = std::min(sample.outcome, outcome_count_ - 1);
  const bool ran = sample.runner >= 0;
  if (StatsEntry* e = ran ? entry(static_cast<std::uint32_t>(sample.runner)) : nullptr) {
    seqlock_write(e->seq, [&] {
      bump(e->requests);
      bump(sample.cold ? e->cold : e->warm);
      if (outcome != 0) bump(e->errors);
      bump(e->latency_us_log2[bucket]);
    });
  }
  StatsFunctionEntry* f = sample.function >= 0 ? function_entry(static_cast<std::uint32_t>(sample.function)) : nullptr;
  if (f == nullptr) {
    StatsTotals& t = totals();
    seqlock_write(t.seq, [&] { bump(t.unattributed[outcome]); });
    return;
  }
  seqlock_write(f->seq, [&] {
    bump(f->requests);
    if (ran) bump(sample.cold ? f->cold : f->warm);
    bump(f->outcomes[outcome]);
    bump(f->latency_us_log2[bucket]);
    bump(f->latency_us_sum, sample.latency_us);
    if (sample.cold_timed) {
      bump(f->cold_timed);
      for (std::size_t i = 0; i < kColdPhases; ++i) bump(f->cold_phase_us_sum[i], sample.cold_phase_us[i]);
    }
  });
}

bool StatsWriter::record_cold_counts(std::uint32_t function, std::uint64_t page_faults, std::uint64_t exits) noexcept {
  StatsFunctionEntry* f = function_entry(function);
  if (f == nullptr) return false;
  seqlock_write(f->seq, [&] {
    bump(f->cold_counted);
    bump(f->cold_page_faults_sum, page_faults);
    bump(f->cold_exits_sum, exits);
  });
  return true;
}

bool StatsWriter::add_in_flight(std::uint32_t function, int delta) noexcept {
  StatsFunctionEntry* f = function_entry(function);
  if (f == nullptr) return false;
  seqlock_write(f->seq, [&] { store(f->in_flight, static_cast<std::uint32_t>(static_cast<std::int64_t>(load(f->in_flight)) + delta)); });
  return true;
}

void StatsWriter::count_load(bool restore) noexcept {
  StatsTotals& t = totals();
  seqlock_write(t.seq, [&] { bump(restore ? t.restores : t.boots); });
}

void StatsWriter::count_eviction() noexcept {
  StatsTotals& t = totals();
  seqlock_write(t.seq, [&] { bump(t.evictions); });
}

void StatsWriter::count_runner_failure() noexcept {
  StatsTotals& t = totals();
  seqlock_write(t.seq, [&] { bump(t.runner_failures); });
}

void StatsWriter::set_load(std::uint64_t queue_depth, std::uint64_t in_flight) noexcept {
  if (queue_depth == last_queue_depth_ && in_flight == last_in_flight_) return;
  last_queue_depth_ = queue_depth;
  last_in_flight_ = in_flight;
  StatsTotals& t = totals();
  seqlock_write(t.seq, [&] {
    store(t.queue_depth, queue_depth);
    store(t.in_flight, in_flight);
  });
}

void StatsWriter::set_draining(bool draining) noexcept {
  StatsTotals& t = totals();
  seqlock_write(t.seq, [&] { store(t.draining, draining ? 1U : 0U); });
}

// ---- StatsReader ----

StatsReader StatsReader::open(std::string_view name) {
  ShmObject shm = ShmObject::open(name, ShmObject::Access::kReadOnly);
  const std::string what = "stats block " + std::string(name) + ": ";
  if (shm.size() < sizeof(StatsHeader) + sizeof(StatsTotals)) throw common::Error(what + "smaller than its header");
  // Pairs with the writer's release store of the magic: the header and names were written before.
  const std::uint64_t magic =
      std::atomic_ref(*reinterpret_cast<std::uint64_t*>(shm.data())).load(std::memory_order_acquire);
  StatsHeader h;
  std::memcpy(&h, shm.data(), sizeof h);  // one private copy; never re-read
  if (magic != kStatsMagic) throw common::Error(what + "bad magic");
  if (h.version != kStatsVersion) throw common::Error(what + "unsupported version " + std::to_string(h.version));
  if (h.header_size != sizeof(StatsHeader) || h.entry_size != sizeof(StatsEntry) ||
      h.totals_size != sizeof(StatsTotals) || h.function_entry_size != sizeof(StatsFunctionEntry) ||
      h.runner_count == 0 || h.runner_count > kMaxStatsRunners || h.function_count > kMaxStatsFunctions ||
      h.outcome_count == 0 || h.outcome_count > kMaxOutcomes ||
      h.total_size != total_size_for(h.runner_count, h.function_count)) {
    throw common::Error(what + "bad header sizes");
  }
  if (shm.size() < h.total_size) throw common::Error(what + "smaller than its header says");
  std::vector<std::string> outcomes;
  // SAFETY: the totals lie within the mapping (size checked above).
  const auto& t = *reinterpret_cast<const StatsTotals*>(shm.data() + totals_offset());
  for (std::uint32_t i = 0; i < h.outcome_count; ++i) {
    const char* n = t.outcome_names[i];
    outcomes.emplace_back(n, ::strnlen(n, kOutcomeNameSize - 1));  // bounded: never trusts a NUL
  }
  h.console_dir[kConsoleDirSize - 1] = '\0';  // the copy is ours: terminate whatever was written
  return StatsReader(std::move(shm), h, std::move(outcomes));
}

StatsReader::StatsReader(ShmObject shm, const StatsHeader& header, std::vector<std::string> outcomes) noexcept
    : shm_(std::move(shm)),
      runner_count_(header.runner_count),
      function_count_(header.function_count),
      outcome_names_(std::move(outcomes)),
      console_dir_(header.console_dir) {}

Result<StatsSnapshot> StatsReader::snapshot(std::uint32_t runner) const noexcept {
  if (runner >= runner_count_) return IpcError::kEntryOutOfRange;
  // SAFETY: runner < runner_count, validated against the mapped size in open().
  const StatsEntry& e = reinterpret_cast<const StatsEntry*>(shm_.data() + runners_offset())[runner];
  StatsSnapshot snap;
  const bool ok = seqlock_read(e.seq, [&] {
    snap.state = static_cast<RunnerState>(load(e.state));
    snap.requests = load(e.requests);
    snap.cold = load(e.cold);
    snap.warm = load(e.warm);
    snap.errors = load(e.errors);
    for (std::size_t i = 0; i < kFunctionNameSize; ++i) snap.function[i] = load(e.function[i]);
    for (std::size_t i = 0; i < kLatencyBuckets; ++i) snap.latency_us_log2[i] = load(e.latency_us_log2[i]);
  });
  if (!ok) return IpcError::kBusy;
  snap.function[kFunctionNameSize - 1] = '\0';
  return snap;
}

Result<StatsFunctionSnapshot> StatsReader::function(std::uint32_t function) const noexcept {
  if (function >= function_count_) return IpcError::kEntryOutOfRange;
  // SAFETY: function < function_count, validated against the mapped size in open().
  const StatsFunctionEntry& f =
      reinterpret_cast<const StatsFunctionEntry*>(shm_.data() + functions_offset(runner_count_))[function];
  StatsFunctionSnapshot snap;
  const bool ok = seqlock_read(f.seq, [&] {
    snap.in_flight = load(f.in_flight);
    snap.requests = load(f.requests);
    snap.cold = load(f.cold);
    snap.warm = load(f.warm);
    snap.latency_us_sum = load(f.latency_us_sum);
    for (std::size_t i = 0; i < kFunctionNameSize; ++i) snap.name[i] = load(f.name[i]);
    for (std::size_t i = 0; i < kMaxOutcomes; ++i) snap.outcomes[i] = load(f.outcomes[i]);
    for (std::size_t i = 0; i < kLatencyBuckets; ++i) snap.latency_us_log2[i] = load(f.latency_us_log2[i]);
    snap.cold_timed = load(f.cold_timed);
    for (std::size_t i = 0; i < kColdPhases; ++i) snap.cold_phase_us_sum[i] = load(f.cold_phase_us_sum[i]);
    snap.cold_counted = load(f.cold_counted);
    snap.cold_page_faults_sum = load(f.cold_page_faults_sum);
    snap.cold_exits_sum = load(f.cold_exits_sum);
  });
  if (!ok) return IpcError::kBusy;
  snap.name[kFunctionNameSize - 1] = '\0';
  return snap;
}

Result<StatsTotalsSnapshot> StatsReader::totals() const noexcept {
  // SAFETY: the totals lie within the mapping (validated in open()).
  const StatsTotals& t = *reinterpret_cast<const StatsTotals*>(shm_.data() + totals_offset());
  StatsTotalsSnapshot snap;
  const bool ok = seqlock_read(t.seq, [&] {
    snap.draining = load(t.draining) != 0;
    snap.queue_depth = load(t.queue_depth);
    snap.in_flight = load(t.in_flight);
    snap.restores = load(t.restores);
    snap.boots = load(t.boots);
    snap.evictions = load(t.evictions);
    snap.runner_failures = load(t.runner_failures);
    for (std::size_t i = 0; i < kMaxOutcomes; ++i) snap.unattributed[i] = load(t.unattributed[i]);
  });
  if (!ok) return IpcError::kBusy;
  return snap;
}

}  // namespace snapfaas::ipc
