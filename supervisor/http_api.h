// The HTTP API of service mode: what each route answers, as plain data (HttpReply), apart from the
// connection handling (http_server.h). POST /invoke/NAME answers from the request's RequestRecord
// (status from its error type, the record's error JSON, headers with cold/warm, runner, latency);
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
#include <nlohmann/json.hpp>

#include "ipc/error_type.h"
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

/// The HTTP status of an error type: ipc::http_status (502 for the function's own failures, 504
/// timeout, 503 while it cannot run, 404, 413, 400, 500 runner_failed) except no_capacity, which is
/// 429 as the issue asks (with Retry-After, like 503).
[[nodiscard]] unsigned invoke_status(ipc::ErrorType type) noexcept;

/// The error body: {"error": ERROR, "request_id": ID}, ERROR being a vocabulary error object
/// (ipc::make_error: type, message, type-specific fields) or a front-end one.
[[nodiscard]] std::string error_body(const nlohmann::json& error, std::string_view request_id);

/// An error that never reached the event loop (bad request, too large, draining, no route):
/// `status`, the body {"error": {"type": TYPE, "message": MESSAGE}, ...}, Retry-After for 429/503.
/// TYPE is a vocabulary name where one fits, else a front-end one (not_found, method_not_allowed,
/// header_too_large).
[[nodiscard]] HttpReply error_reply(unsigned status, std::string_view type, std::string_view message,
                                    std::string_view request_id);

/// The answer to POST /invoke/NAME once the loop finished it. 200: the function's result — the
/// agent's envelope {"ok":true,"result":R,...} is unwrapped to R, other bytes (ring-3 guests) are
/// passed as they are. Errors: invoke_status of the record's error type and the error body. Headers:
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
