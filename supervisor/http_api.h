// The HTTP API of service mode: what each route answers, as plain data (HttpReply), apart from the
// connection handling (http_server.h). POST /invoke/NAME answers from the request's RequestRecord
// (status from its RequestOutcome, the error JSON, headers with cold/warm, runner and latency);
// GET /functions and /healthz from the function configs and the stats block; /metrics is
// metrics.h. Called on HTTP threads; the stats block is only read.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ipc/stats_block.h"
#include "supervisor/config.h"
#include "supervisor/request_outcome.h"
#include "supervisor/run_stats.h"

namespace snapfaas::supervisor {

/// One answer: status, body, extra headers (Content-Type is JSON unless one is given).
struct HttpReply {
  unsigned status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  /// For the access log: the function, cold/warm/"-", the runner, the supervisor's latency.
  std::string function;
  std::string start = "-";
  std::int64_t runner = -1;
  std::uint64_t latency_us = 0;
};

/// The HTTP status of an outcome (the table; ipc/error_type.h's http_status but for
/// no_capacity): 200 ok; 400 bad_request; 404 unknown_function; 413 request_too_large; 429
/// no_capacity (with Retry-After); 502 function_error, function_exited, out_of_memory,
/// response_too_large, bad_response; 503 function_unhealthy, shutdown (draining; Retry-After);
/// 504 timeout; 500 runner_failed.
[[nodiscard]] unsigned http_status(RequestOutcome outcome) noexcept;

/// The error body: {"error": {"type": TYPE, "message": MESSAGE[, "function": DETAIL]}, "request_id": ID}.
/// `detail` (the guest's own error object, when it sent one) is included as parsed JSON.
[[nodiscard]] std::string error_body(std::string_view type, std::string_view message, std::string_view request_id,
                                     std::string_view detail = {});

/// An error that never reached the event loop (bad request, too large, draining, no route):
/// `status`, the error body, Retry-After for 429/503.
[[nodiscard]] HttpReply error_reply(unsigned status, std::string_view type, std::string_view message,
                                    std::string_view request_id);

/// The answer to POST /invoke/NAME once the loop finished it. 200: the function's result — the
/// agent's envelope {"ok":true,"result":R,...} is unwrapped to R, other bytes (ring-3 guests) are
/// passed as they are. Errors: http_status(outcome_of(record)) and the error body. Headers:
/// X-SnapFaaS-Start (cold|warm), X-SnapFaaS-Runner, X-SnapFaaS-Latency-Us, Server-Timing.
/// Takes the record's response.
[[nodiscard]] HttpReply invoke_reply(RequestRecord& record, std::string_view request_id);

/// GET /functions: [{"name", "memory_mib", "vcpus", "concurrency_limit", "kind" (ring3|linux),
/// "snapshot", "network", "warm_vms", "busy_vms", "in_flight", "requests"}].
[[nodiscard]] std::string functions_body(const std::vector<FunctionConfig>& functions, const ipc::StatsReader& stats);

/// GET /healthz: 200 {"status":"ok", runners by state, queue depth, in flight}; 503
/// {"status":"draining", ...} once the supervisor stops taking requests.
[[nodiscard]] HttpReply health_reply(const ipc::StatsReader& stats);

}  // namespace snapfaas::supervisor
