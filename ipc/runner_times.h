// The RunnerTimes protocol (layout: RunnerTimes in ipc/channel_layout.h, header page +0x2c0): the
// runner says when its guest first took a request after a load, so that the supervisor can split a
// cold request's time between the guest's resume (restore record applied, runtime reseeded, first
// page faults) and the handler, and how many page faults and exits KVM counted for the guest until
// its first response (the cold request's "first page faults"). One writer at a time on the runner
// side (the VMM thread resets it before the vCPUs run; afterwards a vCPU thread sets each part,
// once), one reader (the supervisor's loop). The words are naturally aligned 64-bit values read
// and written whole through std::atomic_ref; the reader never trusts them further than a display
// figure.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "ipc/channel_layout.h"

namespace snapfaas::ipc {

/// What KVM counted for a load's guest until its first response (RunnerTimes).
struct LoadCounters {
  std::uint64_t page_faults = 0;
  std::uint64_t exits = 0;
};

namespace detail {
inline std::uint64_t* times_word(std::uint8_t* header_page, std::size_t field_offset) noexcept {
  // SAFETY: header_page is the channel's whole, page-aligned header page (a mapping the caller
  // holds); RunnerTimes lies inside it at an 8-byte-aligned offset and all its fields are 64-bit
  // words (static_asserts in channel_layout.h); field_offset is one of them (offsetof below).
  return reinterpret_cast<std::uint64_t*>(header_page + kRunnerTimesOffset + field_offset);
}
inline std::uint64_t* first_ready_word(std::uint8_t* header_page) noexcept {
  return times_word(header_page, offsetof(RunnerTimes, first_ready_ns));
}
}  // namespace detail

/// Runner, VMM thread, before a load's vCPUs run: no WAIT answered and nothing counted since this
/// load. RELEASE: pairs with the vCPU threads' ACQUIRE in mark_runner_ready and publish_load_counters.
inline void reset_runner_times(std::uint8_t* header_page) noexcept {
  std::atomic_ref<std::uint64_t>(*detail::times_word(header_page, offsetof(RunnerTimes, load_counted)))
      .store(0, std::memory_order_release);
  std::atomic_ref<std::uint64_t>(*detail::first_ready_word(header_page)).store(0, std::memory_order_release);
}

/// Runner, the vCPU thread that wakes the supervisor for the guest's first response after a load:
/// the counts KVM took since the load. Once per load (the caller makes sure).
inline void publish_load_counters(std::uint8_t* header_page, const LoadCounters& counters) noexcept {
  // RELAXED: the two counts are ordered before the flag by its RELEASE store, which pairs with the
  // supervisor's ACQUIRE load in runner_load_counters.
  std::atomic_ref<std::uint64_t>(*detail::times_word(header_page, offsetof(RunnerTimes, load_page_faults)))
      .store(counters.page_faults, std::memory_order_relaxed);
  std::atomic_ref<std::uint64_t>(*detail::times_word(header_page, offsetof(RunnerTimes, load_exits)))
      .store(counters.exits, std::memory_order_relaxed);
  std::atomic_ref<std::uint64_t>(*detail::times_word(header_page, offsetof(RunnerTimes, load_counted)))
      .store(1, std::memory_order_release);
}

/// Runner, vCPU thread, when it answers WAIT with kWaitReady: records `now_ns` (CLOCK_MONOTONIC,
/// non-zero) unless a time is recorded since the last reset. Cheap when already set (one load).
inline void mark_runner_ready(std::uint8_t* header_page, std::uint64_t now_ns) noexcept {
  std::atomic_ref<std::uint64_t> word(*detail::first_ready_word(header_page));
  if (word.load(std::memory_order_relaxed) != 0) return;
  std::uint64_t expected = 0;
  // ACQUIRE on failure pairs with the reset's RELEASE; RELEASE on success pairs with the
  // supervisor's ACQUIRE load in runner_first_ready_ns.
  (void)word.compare_exchange_strong(expected, now_ns, std::memory_order_acq_rel, std::memory_order_acquire);
}

/// Supervisor: the recorded CLOCK_MONOTONIC ns, 0 when none. Untrusted (a runner may lie): the
/// caller clamps it between its own timestamps.
[[nodiscard]] inline std::uint64_t runner_first_ready_ns(std::uint8_t* header_page) noexcept {
  return std::atomic_ref<std::uint64_t>(*detail::first_ready_word(header_page)).load(std::memory_order_acquire);
}

/// Supervisor: the counts published for this load, nullopt when none (yet). Untrusted (a runner
/// may lie): display figures only.
[[nodiscard]] inline std::optional<LoadCounters> runner_load_counters(std::uint8_t* header_page) noexcept {
  // ACQUIRE: pairs with publish_load_counters' RELEASE store of the flag (the counts before it).
  if (std::atomic_ref<std::uint64_t>(*detail::times_word(header_page, offsetof(RunnerTimes, load_counted)))
          .load(std::memory_order_acquire) != 1) {
    return std::nullopt;
  }
  LoadCounters c;
  c.page_faults = std::atomic_ref<std::uint64_t>(*detail::times_word(header_page, offsetof(RunnerTimes, load_page_faults)))
                      .load(std::memory_order_relaxed);
  c.exits = std::atomic_ref<std::uint64_t>(*detail::times_word(header_page, offsetof(RunnerTimes, load_exits)))
                .load(std::memory_order_relaxed);
  return c;
}

}  // namespace snapfaas::ipc
