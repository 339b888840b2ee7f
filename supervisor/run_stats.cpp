// Result and stats JSON (see run_stats.h).
#include "supervisor/run_stats.h"

#include <algorithm>
#include <cmath>

namespace snapfaas::supervisor {

std::string RequestRecord::error_type() const {
  if (!error.is_object()) return {};
  const auto it = error.find("type");
  return it != error.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

std::uint64_t RunStats::count(std::string_view status) const noexcept {
  return static_cast<std::uint64_t>(
      std::count_if(requests_.begin(), requests_.end(), [&](const RequestRecord& r) { return r.status == status; }));
}

std::uint64_t RunStats::cold() const noexcept {
  return static_cast<std::uint64_t>(std::count_if(requests_.begin(), requests_.end(),
                                                  [](const RequestRecord& r) { return r.status == "ok" && r.cold; }));
}

std::uint64_t RunStats::warm() const noexcept {
  return static_cast<std::uint64_t>(std::count_if(requests_.begin(), requests_.end(),
                                                  [](const RequestRecord& r) { return r.status == "ok" && !r.cold; }));
}

double RunStats::latency_percentile(double p, int cold_filter) const {
  std::vector<double> values;
  for (const auto& r : requests_) {
    if (r.status != "ok") continue;
    if (cold_filter >= 0 && r.cold != (cold_filter == 1)) continue;
    values.push_back(r.latency_ms());
  }
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
  return values[std::min(values.size() - 1, rank == 0 ? 0 : rank - 1)];
}

nlohmann::json RunStats::summary() const {
  nlohmann::json types = nlohmann::json::object();
  for (const auto& r : requests_) {
    if (r.status != "ok") types[r.error_type()] = types.value(r.error_type(), 0) + 1;
  }
  return {{"requests", requests_.size() + not_submitted_},
          {"error_types", types},
          {"completed", count("ok")},
          {"errors", count("error")},
          {"dropped", count("dropped")},
          {"not_submitted", not_submitted_},
          {"cold", cold()},
          {"warm", warm()},
          {"evictions", evictions_},
          {"runner_failures", runner_failures_},
          {"vms_created", vms_.size()},
          {"restores", std::count_if(vms_.begin(), vms_.end(), [](const auto& vm) { return vm.kind == "restore"; })},
          {"boots", std::count_if(vms_.begin(), vms_.end(), [](const auto& vm) { return vm.kind == "boot"; })},
          {"p50_ms", latency_percentile(50)},
          {"p99_ms", latency_percentile(99)},
          {"cold_p50_ms", latency_percentile(50, 1)},
          {"warm_p50_ms", latency_percentile(50, 0)}};
}

nlohmann::json RunStats::full() const {
  nlohmann::json j = summary();
  j["requests_completed"] = count("ok");
  j["requests_dropped"] = count("dropped");
  j["loop_cpu_ms"] = loop_cpu_ms_;
  j["loop_wall_ms"] = loop_wall_ms_;
  j["consoles"] = consoles_;
  j["vm_memory_mib"] = nlohmann::json::array();
  j["boot_timestamps"] = nlohmann::json::array();
  for (const auto& vm : vms_) {
    j["vm_memory_mib"].push_back(vm.memory_mib);
    j["boot_timestamps"].push_back({{"runner", vm.runner}, {"function", vm.function}, {"kind", vm.kind},
                                    {"start_ms", vm.start_ms}, {"end_ms", vm.end_ms}});
  }
  j["request_timestamps"] = nlohmann::json::array();
  for (const auto& r : requests_) {
    j["request_timestamps"].push_back({{"id", r.id}, {"function", r.function}, {"status", r.status},
                                       {"cold", r.cold}, {"arrival_ms", r.arrival_ms},
                                       {"dispatch_ms", r.dispatch_ms}, {"done_ms", r.done_ms}});
  }
  return j;
}

nlohmann::json to_json(const RequestRecord& r) {
  nlohmann::json j{{"id", r.id},         {"function", r.function},        {"user_id", r.user_id},
                   {"status", r.status}, {"cold", r.cold},                {"latency_ms", r.latency_ms()},
                   {"service_ms", r.done_ms - r.dispatch_ms},  // from dispatch (the deadline's start)
                   {"runner", r.runner}};
  if (!r.error.is_null()) j["error"] = r.error;
  if (r.status == "ok") {
    nlohmann::json parsed = nlohmann::json::parse(r.response, nullptr, false);
    j["response"] = parsed.is_discarded() ? nlohmann::json(r.response) : parsed;
  }
  return j;
}

}  // namespace snapfaas::supervisor
