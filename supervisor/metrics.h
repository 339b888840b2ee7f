// GET /metrics: the Prometheus text exposition format (version 0.0.4) rendered from the stats block
// — the same counters snapfaas-stat shows — plus the HTTP front end's own connection counters.
// Called on HTTP threads; the stats block is only read.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "ipc/stats_block.h"
#include "supervisor/config.h"

namespace snapfaas::supervisor {

/// The status codes the front end answers with, as snapfaas_http_responses_total counts them.
inline constexpr std::array<unsigned, 12> kHttpCodes = {200, 400, 404, 405, 413, 429, 431, 500, 502, 503, 504, 0};

/// Index of `status` in kHttpCodes (the last, 0, stands for any other).
[[nodiscard]] constexpr std::size_t http_code_index(unsigned status) noexcept {
  for (std::size_t i = 0; i + 1 < kHttpCodes.size(); ++i) {
    if (kHttpCodes[i] == status) return i;
  }
  return kHttpCodes.size() - 1;
}

/// The HTTP front end's counters (plain values, a snapshot of its atomics).
struct HttpCounters {
  std::uint64_t connections_open = 0;
  std::uint64_t connections_accepted = 0;
  std::uint64_t refused_connection_cap = 0;  ///< accepted past --http_max_connections: 503, closed
  std::uint64_t bad_request = 0;             ///< malformed HTTP: 400
  std::uint64_t header_too_large = 0;        ///< 431
  std::uint64_t request_too_large = 0;       ///< body past the limit: 413
  std::uint64_t timed_out = 0;               ///< a request not received in time (slow client): closed
  std::uint64_t draining = 0;                ///< refused while draining (shutdown): 503
  std::array<std::uint64_t, kHttpCodes.size()> responses{};  ///< written, by kHttpCodes index
};

/// The exposition text. Series: snapfaas_requests_total{function,outcome},
/// snapfaas_request_starts_total{function,start}, snapfaas_request_duration_seconds (histogram per
/// function, log2 buckets), snapfaas_function_in_flight{function}, snapfaas_vms{function,state},
/// snapfaas_unattributed_requests_total{outcome}, snapfaas_runners{state}, snapfaas_queue_depth,
/// snapfaas_requests_in_flight, snapfaas_restores_total, snapfaas_boots_total,
/// snapfaas_evictions_total, snapfaas_runner_failures_total, snapfaas_draining, and
/// snapfaas_http_connections, snapfaas_http_connections_total, snapfaas_http_rejected_total{reason},
/// snapfaas_http_responses_total{code}.
[[nodiscard]] std::string render_metrics(const ipc::StatsReader& stats, const HttpCounters& http);

}  // namespace snapfaas::supervisor
