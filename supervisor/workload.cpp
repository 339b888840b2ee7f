// Workload reading and generation (see workload.h).
#include "supervisor/workload.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <random>

#include "common/error.h"

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
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw line_error(source, line, "not a JSON object");
    WorkloadRequest r;
    const auto time = j.find("time");
    if (time == j.end() || !time->is_number_integer() || time->get<std::int64_t>() < 0) {
      throw line_error(source, line, "'time' must be a non-negative integer (ms)");
    }
    r.time_ms = time->get<std::uint64_t>();
    const auto function = j.find("function");
    if (function == j.end() || !function->is_string() || function->get<std::string>().empty()) {
      throw line_error(source, line, "'function' must be a non-empty string");
    }
    r.function = function->get<std::string>();
    if (const auto user = j.find("user_id"); user != j.end()) {
      if (!user->is_number_integer() || user->get<std::int64_t>() < 0) {
        throw line_error(source, line, "'user_id' must be a non-negative integer");
      }
      r.user_id = user->get<std::uint64_t>();
    }
    const auto payload = j.find("payload");
    r.payload = payload == j.end() ? "{}" : payload->dump();
    if (r.time_ms < previous) {
      throw line_error(source, line,
                       "time " + std::to_string(r.time_ms) + " decreases (previous " + std::to_string(previous) + ")");
    }
    previous = r.time_ms;
    requests.push_back(std::move(r));
  }
  return requests;
}

std::vector<WorkloadRequest> read_workload_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw common::sys_error("open workload " + path);
  return read_workload(in, path);
}

std::string to_json_line(const WorkloadRequest& request) {
  nlohmann::json j;
  j["time"] = request.time_ms;
  j["user_id"] = request.user_id;
  j["function"] = request.function;
  j["payload"] = nlohmann::json::parse(request.payload, nullptr, false);
  if (j["payload"].is_discarded()) j["payload"] = request.payload;
  return j.dump();
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
