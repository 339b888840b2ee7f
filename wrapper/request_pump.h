// RequestPump: fc_wrapper's request/response handling, independent of any VM. Reads request lines,
// sends each payload through a SupervisorChannel, waits for its response and turns it into one
// output line, strictly in input order (one request in flight at a time).
//
// Output lines (one per non-blank input line, compact JSON):
//   the agent's response JSON as it came back (see guest/agent/python_runtime.h), e.g.
//     {"ok":true,"result":{...},"duration_ns":N}
//   or a wrapper error {"ok":false,"error":{"type":T,"message":M,...}} in the one vocabulary of
//   ipc/error_type.h: bad_request (bad input line), request_too_large with size and limit (payload
//   larger than a slot: not sent), timeout with timeout_ms (no response in time; a late answer is
//   dropped), runner_failed (the runner died, or a channel check failed), bad_response (the
//   response is not JSON).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>

#include "ipc/channel.h"

namespace snapfaas::wrapper {

struct PumpOptions {
  std::chrono::milliseconds timeout{30'000};  ///< per request, from send to response
  /// Called about every 100 ms while waiting; false ends the wait with a runner_failed error line.
  std::function<bool()> peer_alive;
  /// Called once, after the first request that reached the channel was answered and its line
  /// written (fc_wrapper --dump_ws records the working set then). An exception ends run().
  std::function<void()> after_first;
};

/// Outcome of one line.
struct LineResult {
  std::string output;                    ///< the output line (no newline)
  bool sent = false;                     ///< the payload reached the channel
  bool ok = false;                       ///< the response says "ok": true
  std::chrono::nanoseconds rtt{0};       ///< send → response (sent lines only)
};

/// Drives one channel. Not thread-safe; the channel must outlive the pump.
class RequestPump {
 public:
  RequestPump(ipc::SupervisorChannel& channel, PumpOptions options);

  /// Handles one input line; nullopt for a blank line.
  [[nodiscard]] std::optional<LineResult> process_line(std::string_view line);

  /// process_line for every line of `in`; output lines to `out` (flushed each), timing lines
  /// ("fc_wrapper: request N rtt_us=X ok|error") to `timing`. Returns the number of output lines.
  std::uint64_t run(std::istream& in, std::ostream& out, std::ostream& timing);

 private:
  [[nodiscard]] LineResult exchange(const std::string& payload);

  ipc::SupervisorChannel& channel_;
  PumpOptions options_;
  std::uint64_t next_id_ = 1;
  std::unordered_set<std::uint64_t> abandoned_;  // timed-out request ids whose answers are dropped
};

}  // namespace snapfaas::wrapper
