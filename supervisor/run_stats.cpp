// Result and stats JSON (see run_stats.h).
#include "supervisor/run_stats.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "ipc/stats_block.h"

namespace snapfaas::supervisor {

std::string RequestRecord::error_type() const {
  if (!error.is_object()) return {};
  const auto it = error.find("type");
  return it != error.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

std::optional<std::array<double, 5>> RequestRecord::cold_phases_ms() const {
  if (!cold || status != "ok" || loaded_ms < 0 || sent_ms < 0 || handler_ms < 0) return std::nullopt;
  // Each mark clamped into [previous mark, done]: the runner's and the guest's figures are untrusted.
  const double loaded = std::clamp(loaded_ms, dispatch_ms, done_ms);
  const double handler_max = done_ms - std::max(loaded, sent_ms);
  // No runner mark: the guest found the request by polling its ring, without a WAIT exit (the
  // usual case after a restore). Then everything but the handler counts as resume (response 0).
  const double ready = guest_ready_ms >= 0 ? std::clamp(guest_ready_ms, std::max(loaded, sent_ms), done_ms)
                                           : done_ms - std::clamp(handler_ms, 0.0, handler_max);
  const double handler = std::clamp(handler_ms, 0.0, done_ms - ready);
  return std::array<double, 5>{dispatch_ms - arrival_ms, loaded - dispatch_ms, ready - loaded, handler,
                               done_ms - ready - handler};
}

void RunStats::add_request(RequestRecord record) {
  ++requests_total_;
  ++by_status_[record.status];
  if (record.status == "ok") {
    ++(record.cold ? cold_ok_ : warm_ok_);
  } else {
    ++by_error_type_[record.error_type()];
  }
  requests_.push_back(std::move(record));
  if (record_limit_ != 0 && requests_.size() > record_limit_) requests_.pop_front();
}

bool RunStats::set_counts(std::uint64_t id, std::int64_t page_faults, std::int64_t exits) {
  // The request was answered moments ago: search from the newest record.
  for (auto it = requests_.rbegin(); it != requests_.rend(); ++it) {
    if (it->id != id) continue;
    it->page_faults = page_faults;
    it->exits = exits;
    return true;
  }
  return false;
}

void RunStats::add_vm(VmRecord record) {
  ++vms_total_;
  ++(record.kind == "restore" ? restores_ : boots_);
  vms_.push_back(std::move(record));
  if (record_limit_ != 0 && vms_.size() > record_limit_) vms_.pop_front();
}

std::uint64_t RunStats::count(std::string_view status) const noexcept {
  const auto it = by_status_.find(status);
  return it == by_status_.end() ? 0 : it->second;
}

std::uint64_t RunStats::cold() const noexcept { return cold_ok_; }

std::uint64_t RunStats::warm() const noexcept { return warm_ok_; }

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

nlohmann::json RunStats::cold_phases() const {
  static_assert(ipc::kColdPhases == 5, "RequestRecord::cold_phases_ms returns the phases of ipc/stats_block.h");
  const auto& kNames = ipc::kColdPhaseNames;
  std::array<std::vector<double>, 5> by_phase;
  for (const auto& r : requests_) {
    if (const auto phases = r.cold_phases_ms()) {
      for (std::size_t i = 0; i < 5; ++i) by_phase[i].push_back((*phases)[i]);
    }
  }
  nlohmann::json p50 = nlohmann::json::object(), mean = nlohmann::json::object();
  for (std::size_t i = 0; i < 5; ++i) {
    std::vector<double>& v = by_phase[i];
    if (v.empty()) continue;
    std::sort(v.begin(), v.end());
    p50[kNames[i]] = v[(v.size() - 1) / 2];
    double sum = 0;
    for (double x : v) sum += x;
    mean[kNames[i]] = sum / static_cast<double>(v.size());
  }
  nlohmann::json out{{"measured", by_phase[0].size()}, {"p50_ms", p50}, {"mean_ms", mean}};
  // What KVM counted until the first response, over the cold requests that have the figure.
  for (const auto& [name, member] : {std::pair{"page_faults", &RequestRecord::page_faults},
                                     std::pair{"exits", &RequestRecord::exits}}) {
    std::vector<std::int64_t> v;
    for (const auto& r : requests_) {
      if (r.cold && r.status == "ok" && r.*member >= 0) v.push_back(r.*member);
    }
    if (v.empty()) continue;
    std::sort(v.begin(), v.end());
    double sum = 0;
    for (std::int64_t x : v) sum += static_cast<double>(x);
    out[name] = {{"counted", v.size()}, {"p50", v[(v.size() - 1) / 2]}, {"mean", sum / static_cast<double>(v.size())}};
  }
  return out;
}

nlohmann::json RunStats::summary() const {
  nlohmann::json types = nlohmann::json::object();
  for (const auto& [type, n] : by_error_type_) types[type] = n;
  return {{"requests", requests_total_ + not_submitted_},
          {"error_types", types},
          {"completed", count("ok")},
          {"errors", count("error")},
          {"dropped", count("dropped")},
          {"not_submitted", not_submitted_},
          {"cold", cold()},
          {"warm", warm()},
          {"evictions", evictions_},
          {"runner_failures", runner_failures_},
          {"vms_created", vms_total_},
          {"restores", restores_},
          {"boots", boots_},
          {"p50_ms", latency_percentile(50)},
          {"p99_ms", latency_percentile(99)},
          {"cold_p50_ms", latency_percentile(50, 1)},
          {"warm_p50_ms", latency_percentile(50, 0)},
          {"cold_phases", cold_phases()}};
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
  j["vm_records_dropped"] = vms_total_ - vms_.size();                 // past the record limit
  j["request_records_dropped"] = requests_total_ - requests_.size();  // past the record limit
  j["request_timestamps"] = nlohmann::json::array();
  for (const auto& r : requests_) {
    j["request_timestamps"].push_back({{"id", r.id}, {"function", r.function}, {"status", r.status},
                                       {"cold", r.cold}, {"arrival_ms", r.arrival_ms},
                                       {"dispatch_ms", r.dispatch_ms}, {"done_ms", r.done_ms}});
    if (r.cold) {
      nlohmann::json& t = j["request_timestamps"].back();
      t["loaded_ms"] = r.loaded_ms;
      t["runner_load_ms"] = r.runner_load_ms;
      t["sent_ms"] = r.sent_ms;
      t["guest_ready_ms"] = r.guest_ready_ms;
      t["handler_ms"] = r.handler_ms;
      t["page_faults"] = r.page_faults;
      t["exits"] = r.exits;
    }
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
    if (r.cold) j["restore_generation"] = r.restore_generation;
    nlohmann::json parsed = nlohmann::json::parse(r.response, nullptr, false);
    j["response"] = parsed.is_discarded() ? nlohmann::json(r.response) : parsed;
  }
  return j;
}

}  // namespace snapfaas::supervisor
