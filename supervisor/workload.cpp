// Workload reading and generation (see workload.h).
#include "supervisor/workload.h"

#include <algorithm>
#include <fstream>
#include <random>

#include "common/error.h"
#include "common/request_line.h"

namespace snapfaas::supervisor {
namespace {

[[nodiscard]] common::Error line_error(const std::string& source, std::size_t line, const std::string& what) {
  return common::Error(source + ":" + std::to_string(line) + ": " + what);
}

}  // namespace

std::vector<WorkloadRequest> read_workload(std::istream& in, const std::string& source) {
  std::vector<WorkloadRequest> requests;
  std::string text;
  std::size_t line = 0;
  std::uint64_t previous = 0;
  while (std::getline(in, text)) {
    ++line;
    common::RequestLine parsed = common::parse_request_line(text);
    if (parsed.blank) continue;
    if (!parsed.error.empty()) throw line_error(source, line, parsed.error);
    // A replay needs both: when (open loop) and what.
    if (!parsed.time_ms) throw line_error(source, line, "'time' must be a non-negative integer (ms)");
    if (parsed.function.empty()) throw line_error(source, line, "'function' must be a non-empty string");
    if (*parsed.time_ms < previous) {
      throw line_error(source, line,
                       "time " + std::to_string(*parsed.time_ms) + " decreases (previous " + std::to_string(previous) + ")");
    }
    previous = *parsed.time_ms;
    requests.push_back({*parsed.time_ms, parsed.user_id, std::move(parsed.function), std::move(parsed.payload)});
  }
  return requests;
}

std::vector<WorkloadRequest> read_workload_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw common::sys_error("open workload " + path);
  return read_workload(in, path);
}

std::string to_json_line(const WorkloadRequest& request) {
  return common::format_request_line(request.time_ms, request.user_id, request.function, request.payload);
}

std::vector<WorkloadRequest> generate_workload(const WorkloadSpec& spec) {
  if (spec.end_ms <= spec.start_ms) throw common::Error("workload: end must be after start");
  if (spec.users == 0) throw common::Error("workload: users must be at least 1");
  std::mt19937_64 rng(spec.seed);
  std::uniform_int_distribution<std::uint64_t> user(0, spec.users - 1);
  std::vector<WorkloadRequest> requests;
  // std::map iterates in name order, so the draw sequence depends only on the spec.
  for (const auto& [function, mean] : spec.mean_interarrival_ms) {
    if (!(mean > 0)) throw common::Error("workload: mean inter-arrival of '" + function + "' must be > 0");
    std::exponential_distribution<double> gap(1.0 / mean);
    double t = static_cast<double>(spec.start_ms) + gap(rng);
    while (t < static_cast<double>(spec.end_ms)) {
      requests.push_back({static_cast<std::uint64_t>(t), user(rng), function, spec.payload});
      t += gap(rng);
    }
  }
  std::stable_sort(requests.begin(), requests.end(),
                   [](const WorkloadRequest& a, const WorkloadRequest& b) { return a.time_ms < b.time_ms; });
  return requests;
}

}  // namespace snapfaas::supervisor
