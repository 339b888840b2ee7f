// Stats block: seqlock writes by the supervisor, consistent snapshots for readers elsewhere.
// Seqlock per Boehm, "Can seqlocks get along with programming language memory models?" (2012):
// every field is accessed atomically (relaxed), ordered by fences around the sequence counter.
#include "ipc/stats_block.h"

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

constexpr std::uint64_t total_size_for(std::uint32_t runners) {
  return sizeof(StatsHeader) + std::uint64_t{runners} * sizeof(StatsEntry);
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

// Writer side of the seqlock around `update` (single writer, so reading our own fields is race-free).
template <typename F>
void seqlock_write(StatsEntry& e, F&& update) noexcept {
  auto seq = std::atomic_ref(e.seq);
  const std::uint32_t s = seq.load(std::memory_order_relaxed);
  seq.store(s + 1, std::memory_order_relaxed);          // odd: update in progress
  std::atomic_thread_fence(std::memory_order_release);  // odd seq before field stores; pairs with reader's acquire fence
  update();
  seq.store(s + 2, std::memory_order_release);  // fields before even seq; pairs with reader's acquire load
}

}  // namespace

std::size_t latency_bucket(std::uint64_t latency_us) noexcept {
  if (latency_us == 0) return 0;
  const std::size_t b = static_cast<std::size_t>(std::bit_width(latency_us)) - 1;
  return b < kLatencyBuckets ? b : kLatencyBuckets - 1;
}

// ---- StatsWriter ----

StatsWriter StatsWriter::create(std::string_view name, std::uint32_t runner_count, std::string_view console_dir) {
  if (runner_count == 0 || runner_count > kMaxStatsRunners) {
    throw common::Error("stats block " + std::string(name) + ": runner count " + std::to_string(runner_count) +
                        " out of range 1.." + std::to_string(kMaxStatsRunners));
  }
  ShmObject shm = ShmObject::create(name, total_size_for(runner_count), 0644);  // snapfaas-stat reads it
  StatsHeader h{};
  h.magic = kStatsMagic;
  h.version = kStatsVersion;
  h.header_size = sizeof(StatsHeader);
  h.entry_size = sizeof(StatsEntry);
  h.runner_count = runner_count;
  h.total_size = total_size_for(runner_count);
  if (!console_dir.empty()) {
    std::memcpy(h.console_dir, console_dir.data(), std::min(console_dir.size(), kConsoleDirSize - 1));
  }
  std::memcpy(shm.data(), &h, sizeof h);  // before any reader can open the name's contents meaningfully
  return StatsWriter(std::move(shm), runner_count);
}

StatsWriter::StatsWriter(ShmObject shm, std::uint32_t runner_count) noexcept
    : shm_(std::move(shm)), runner_count_(runner_count) {}

StatsEntry* StatsWriter::entry(std::uint32_t runner) const noexcept {
  if (runner >= runner_count_) return nullptr;
  // SAFETY: runner < runner_count and the object holds total_size_for(runner_count) bytes; entries
  // are 64-byte aligned (page-aligned mapping + 64-byte header).
  return reinterpret_cast<StatsEntry*>(shm_.data() + sizeof(StatsHeader)) + runner;
}

bool StatsWriter::set_state(std::uint32_t runner, RunnerState state) noexcept {
  StatsEntry* e = entry(runner);
  if (e == nullptr) return false;
  seqlock_write(*e, [&] { store(e->state, static_cast<std::uint32_t>(state)); });
  return true;
}

bool StatsWriter::set_function(std::uint32_t runner, std::string_view function) noexcept {
  StatsEntry* e = entry(runner);
  if (e == nullptr) return false;
  const std::size_t n = std::min(function.size(), kFunctionNameSize - 1);
  seqlock_write(*e, [&] {
    for (std::size_t i = 0; i < kFunctionNameSize; ++i) store(e->function[i], i < n ? function[i] : '\0');
  });
  return true;
}

bool StatsWriter::record_request(std::uint32_t runner, bool cold, bool error, std::uint64_t latency_us) noexcept {
  StatsEntry* e = entry(runner);
  if (e == nullptr) return false;
  const std::size_t bucket = latency_bucket(latency_us);
  seqlock_write(*e, [&] {
    store(e->requests, load(e->requests) + 1);
    if (cold) {
      store(e->cold, load(e->cold) + 1);
    } else {
      store(e->warm, load(e->warm) + 1);
    }
    if (error) store(e->errors, load(e->errors) + 1);
    store(e->latency_us_log2[bucket], load(e->latency_us_log2[bucket]) + 1);
  });
  return true;
}

// ---- StatsReader ----

StatsReader StatsReader::open(std::string_view name) {
  ShmObject shm = ShmObject::open(name, ShmObject::Access::kReadOnly);
  const std::string what = "stats block " + std::string(name) + ": ";
  if (shm.size() < sizeof(StatsHeader)) throw common::Error(what + "smaller than its header");
  StatsHeader h;
  std::memcpy(&h, shm.data(), sizeof h);  // one private copy; never re-read
  if (h.magic != kStatsMagic) throw common::Error(what + "bad magic");
  if (h.version != kStatsVersion) throw common::Error(what + "unsupported version " + std::to_string(h.version));
  if (h.header_size != sizeof(StatsHeader) || h.entry_size != sizeof(StatsEntry) || h.runner_count == 0 ||
      h.runner_count > kMaxStatsRunners || h.total_size != total_size_for(h.runner_count)) {
    throw common::Error(what + "bad header sizes");
  }
  if (shm.size() < h.total_size) throw common::Error(what + "smaller than its header says");
  h.console_dir[kConsoleDirSize - 1] = '\0';  // the copy is ours: terminate whatever was written
  return StatsReader(std::move(shm), h.runner_count, std::string(h.console_dir));
}

StatsReader::StatsReader(ShmObject shm, std::uint32_t runner_count, std::string console_dir) noexcept
    : shm_(std::move(shm)), runner_count_(runner_count), console_dir_(std::move(console_dir)) {}

Result<StatsSnapshot> StatsReader::snapshot(std::uint32_t runner) const noexcept {
  if (runner >= runner_count_) return IpcError::kEntryOutOfRange;
  // SAFETY: runner < runner_count, validated against the mapped size in open().
  const StatsEntry& e = reinterpret_cast<const StatsEntry*>(shm_.data() + sizeof(StatsHeader))[runner];
  auto seq = std::atomic_ref(const_cast<std::uint32_t&>(e.seq));
  for (int attempt = 0; attempt < 100000; ++attempt) {
    const std::uint32_t s1 = seq.load(std::memory_order_acquire);  // pairs with the writer's final release store
    if (s1 & 1U) continue;
    StatsSnapshot snap;
    snap.state = static_cast<RunnerState>(load(e.state));
    snap.requests = load(e.requests);
    snap.cold = load(e.cold);
    snap.warm = load(e.warm);
    snap.errors = load(e.errors);
    for (std::size_t i = 0; i < kFunctionNameSize; ++i) snap.function[i] = load(e.function[i]);
    snap.function[kFunctionNameSize - 1] = '\0';
    for (std::size_t i = 0; i < kLatencyBuckets; ++i) snap.latency_us_log2[i] = load(e.latency_us_log2[i]);
    std::atomic_thread_fence(std::memory_order_acquire);  // field loads before the re-check; pairs with writer's release fence
    if (seq.load(std::memory_order_relaxed) == s1) return snap;
  }
  return IpcError::kBusy;
}

}  // namespace snapfaas::ipc
