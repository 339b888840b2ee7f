// The runner's ring-window trace (ipc/channel_layout.h WindowTrace, header page +0x280): the
// runner's ports count WAIT and RESPONSE_READY exits and stamp their TSC; a benchmark reads it to
// split a request's round trip into phases and to count exits per request (bench/request_rtt.cpp).
// Figures only: nothing decides on these values, so every access is a RELAXED atomic with nothing
// to pair with (a reader may see neighbouring events' stamps; the benchmark reads while the path
// is quiescent, between round trips).
#pragma once

#include <x86intrin.h>

#include <atomic>
#include <cstdint>

#include "ipc/channel_layout.h"

namespace snapfaas::ipc {

/// The CPU's time-stamp counter. Under PVM a ring-3 guest's rdtsc reads the same counter (no TSC
/// offset); a benchmark checks that before comparing guest and host stamps.
[[nodiscard]] inline std::uint64_t read_tsc() noexcept { return __rdtsc(); }

/// Runner side: writes one channel's trace. An rdtsc and a store per event: cheap enough for every
/// exit. Any runner thread; the counts are single-writer in practice (the guest's serving vCPU), a
/// count lost to two vCPUs exiting at once is harmless (figures).
class WindowTraceWriter {
 public:
  WindowTraceWriter() noexcept = default;
  /// `header_page`: the runner's read-write mapping of the channel's header page (kPageSize bytes).
  explicit WindowTraceWriter(std::uint8_t* header_page) noexcept
      // SAFETY: host memory of the channel's own header page; WindowTrace fits at kWindowTraceOffset
      // (static_assert in channel_layout.h) and is 8-byte aligned there.
      : trace_(reinterpret_cast<WindowTrace*>(header_page + kWindowTraceOffset)) {}

  void count(std::uint64_t WindowTrace::*field) noexcept {
    if (trace_ == nullptr) return;
    std::atomic_ref word(trace_->*field);
    word.store(word.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);  // figures: pairs with nothing
  }
  void stamp(std::uint64_t WindowTrace::*field) noexcept {
    if (trace_ != nullptr) std::atomic_ref(trace_->*field).store(read_tsc(), std::memory_order_relaxed);  // figures
  }

 private:
  WindowTrace* trace_ = nullptr;
};

/// Reader side (a benchmark): a field-by-field RELAXED copy of the trace of the channel whose header
/// page is mapped at `header_page`.
[[nodiscard]] inline WindowTrace read_window_trace(const std::uint8_t* header_page) noexcept {
  // SAFETY: as in WindowTraceWriter; atomic_ref needs a non-const object, the copy only reads.
  auto* t = const_cast<WindowTrace*>(reinterpret_cast<const WindowTrace*>(header_page + kWindowTraceOffset));
  WindowTrace out{};
  for (std::uint64_t WindowTrace::*f :
       {&WindowTrace::waits, &WindowTrace::wait_parks, &WindowTrace::response_rings, &WindowTrace::supervisor_wakes,
        &WindowTrace::wait_ready_tsc, &WindowTrace::wait_woken_tsc, &WindowTrace::doorbell_exit_tsc,
        &WindowTrace::wake_done_tsc}) {
    out.*f = std::atomic_ref(t->*f).load(std::memory_order_relaxed);  // figures: pairs with nothing
  }
  return out;
}

}  // namespace snapfaas::ipc
