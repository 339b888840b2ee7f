// The workload: request lines {"time": ms, "user_id": n, "function": "f", "payload": {...}}
// (common/request_line.h) replayed open-loop by time, and the Poisson generator (SnapFaaS's
// workload generator, seeded).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <map>
#include <string>
#include <vector>

namespace snapfaas::supervisor {

/// One request of a workload (plain values).
struct WorkloadRequest {
  std::uint64_t time_ms = 0;  ///< arrival, ms from the start of the replay
  std::uint64_t user_id = 0;
  std::string function;
  std::string payload;  ///< the JSON payload, serialized
};

/// Reads request lines (common/request_line.h) from `in`; blank lines are skipped. Throws
/// common::Error "SOURCE:LINE: ..." on a malformed line, one without time or function, or one
/// whose time is lower than the previous line's.
[[nodiscard]] std::vector<WorkloadRequest> read_workload(std::istream& in, const std::string& source_name);
[[nodiscard]] std::vector<WorkloadRequest> read_workload_file(const std::string& path);

/// One JSON line for `request` (no newline).
[[nodiscard]] std::string to_json_line(const WorkloadRequest& request);

/// Generator parameters: per function, the mean inter-arrival time in ms.
struct WorkloadSpec {
  std::map<std::string, double> mean_interarrival_ms;
  std::uint64_t start_ms = 0;
  std::uint64_t end_ms = 60'000;
  std::uint64_t users = 1;    ///< user ids drawn uniformly from [0, users)
  std::uint64_t seed = 1;
  std::string payload = "{}";  ///< the payload of every request
};

/// Poisson arrivals per function (exponential inter-arrival times, std::mt19937_64 seeded with
/// spec.seed) in [start_ms, end_ms), merged and sorted by time. Same spec → same workload.
/// Throws common::Error on a non-positive mean or end <= start.
[[nodiscard]] std::vector<WorkloadRequest> generate_workload(const WorkloadSpec& spec);

}  // namespace snapfaas::supervisor
