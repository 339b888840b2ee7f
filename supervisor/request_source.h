// RequestSource: where the supervisor's requests come from. The event loop (runner_pool.h) polls
// its source for the requests that are due and sleeps until the next one; the workload file
// (workload_source.h) is one source, a network front end would be another, never a second loop.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace snapfaas::supervisor {

/// One request as a source hands it over (plain values; the loop gives it an id and a record).
struct Invocation {
  std::string function;
  std::string payload;  ///< JSON bytes for the function
  std::uint64_t user_id = 0;
};

/// Polled by the one event-loop thread only.
class RequestSource {
 public:
  using Clock = std::chrono::steady_clock;
  using Submit = std::function<void(Invocation&&)>;

  virtual ~RequestSource() = default;
  /// Hands every request due at `now` to `submit`, oldest first.
  virtual void poll(Clock::time_point now, const Submit& submit) = 0;
  /// When poll() will next have a request (time_point::max(): none scheduled).
  [[nodiscard]] virtual Clock::time_point next_due() const noexcept = 0;
  /// True when no request will ever come again.
  [[nodiscard]] virtual bool exhausted() const noexcept = 0;
  /// Stops the source (drain): nothing more is submitted. Returns how many requests it knew of
  /// and never submitted.
  virtual std::uint64_t stop() noexcept = 0;
};

}  // namespace snapfaas::supervisor
