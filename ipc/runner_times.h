// The RunnerTimes protocol (layout: RunnerTimes in ipc/channel_layout.h, header page +0x2c0): the
// runner says when its guest first took a request after a load, so that the supervisor can split a
// cold request's time between the guest's resume (restore record applied, runtime reseeded, first
// page faults) and the handler. One writer at a time on the runner side (the VMM thread resets it
// before the vCPUs run; afterwards only a vCPU thread sets it, once), one reader (the supervisor's
// loop). The words are naturally aligned 64-bit values read and written whole through
// std::atomic_ref; the reader never trusts them further than a display figure.
#pragma once

#include <atomic>
#include <cstdint>

#include "ipc/channel_layout.h"

namespace snapfaas::ipc {

namespace detail {
inline std::uint64_t* first_ready_word(std::uint8_t* header_page) noexcept {
  // SAFETY: header_page is the channel's whole, page-aligned header page (a mapping the caller
  // holds); RunnerTimes lies inside it at an 8-byte-aligned offset (static_asserts in
  // channel_layout.h), and its first word is first_ready_ns.
  return reinterpret_cast<std::uint64_t*>(header_page + kRunnerTimesOffset + offsetof(RunnerTimes, first_ready_ns));
}
}  // namespace detail

/// Runner, VMM thread, before a load's vCPUs run: no WAIT answered since this load.
/// RELEASE: pairs with the vCPU thread's ACQUIRE compare-exchange in mark_runner_ready.
inline void reset_runner_times(std::uint8_t* header_page) noexcept {
  std::atomic_ref<std::uint64_t>(*detail::first_ready_word(header_page)).store(0, std::memory_order_release);
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

}  // namespace snapfaas::ipc
