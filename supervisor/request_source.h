// RequestSource: where the supervisor's requests come from. The event loop (runner_pool.h) polls
// its source for the requests that are due and sleeps until the next one, or until a doorbell of
// the source rings; the workload file (workload_source.h) and the HTTP front end (http_source.h)
// are sources, both at once through a SourceSet (source_set.h) — never a second loop.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ipc/doorbell.h"

namespace snapfaas::supervisor {

struct RequestRecord;

/// One request as a source hands it over (plain values; the loop gives it an id and a record).
struct Invocation {
  /// Called once, on the event-loop thread, when the request is answered (instead of the loop's
  /// result sink). It may take (move from) the record's `response`; it must not block.
  using Completion = std::function<void(RequestRecord&)>;

  std::string function;
  std::string payload;  ///< JSON bytes for the function
  std::uint64_t user_id = 0;
  Completion on_done;   ///< empty: the loop's result sink gets the record
};

/// Polled by the one event-loop thread only (ready() may be read from there at any time).
class RequestSource {
 public:
  using Clock = std::chrono::steady_clock;
  using Submit = std::function<void(Invocation&&)>;

  virtual ~RequestSource() = default;
  /// Hands every request due at `now` to `submit`, oldest first.
  virtual void poll(Clock::time_point now, const Submit& submit) = 0;
  /// When poll() will next have a request by the clock (time_point::max(): none scheduled).
  [[nodiscard]] virtual Clock::time_point next_due() const noexcept = 0;
  /// True when no request will ever come again.
  [[nodiscard]] virtual bool exhausted() const noexcept = 0;
  /// Stops the source (drain): nothing more is accepted. Returns how many requests it knew of
  /// and will never submit.
  virtual std::uint64_t stop() noexcept = 0;
  /// Requests that arrive off the clock (from another thread): the doorbells rung when one does,
  /// which the loop parks on with its runners' (appended to `out`).
  virtual void doorbells(std::vector<ipc::Doorbell*>& /*out*/) {}
  /// True when poll() has something now regardless of the clock (cheap; the loop's wake test).
  [[nodiscard]] virtual bool ready() const noexcept { return false; }
};

}  // namespace snapfaas::supervisor
