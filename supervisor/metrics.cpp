// Prometheus text rendering of the stats block (see metrics.h). Format:
// https://prometheus.io/docs/instrumenting/exposition_formats/ (text format 0.0.4).
#include "supervisor/metrics.h"

#include <array>
#include <cstdio>
#include <string_view>

namespace snapfaas::supervisor {
namespace {

class Writer {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  /// name{k1="v1",k2="v2"} value; labels as alternating key, value.
  void sample(std::string_view name, std::initializer_list<std::string_view> labels, double value) {
    out_ += name;
    if (labels.size() > 0) {
      out_ += '{';
      bool key = true, first = true;
      for (std::string_view l : labels) {
        if (key) {
          if (!first) out_ += ',';
          out_ += l;
          out_ += "=\"";
        } else {
          escape(l);
          out_ += '"';
        }
        key = !key;
        first = false;
      }
      out_ += '}';
    }
    std::array<char, 32> number{};
    std::snprintf(number.data(), number.size(), " %.15g\n", value);
    out_ += number.data();
  }
  [[nodiscard]] std::string take() { return std::move(out_); }

 private:
  void escape(std::string_view value) {  // label values: backslash, double quote, line feed
    for (char c : value) {
      if (c == '\\') {
        out_ += "\\\\";
      } else if (c == '"') {
        out_ += "\\\"";
      } else if (c == '\n') {
        out_ += "\\n";
      } else {
        out_ += c;
      }
    }
  }
  std::string out_;
};

// Bucket b of the stats block's log2 histogram holds [2^b, 2^(b+1)) µs: its upper bound, seconds.
[[nodiscard]] std::string bucket_bound(std::size_t b) {
  std::array<char, 32> text{};
  std::snprintf(text.data(), text.size(), "%g", static_cast<double>(1ULL << (b + 1)) / 1e6);
  return text.data();
}

}  // namespace

std::string render_metrics(const ipc::StatsReader& stats, const HttpCounters& http) {
  Writer w;
  const auto& outcomes = stats.outcome_names();
  std::vector<ipc::StatsFunctionSnapshot> functions;
  for (std::uint32_t i = 0; i < stats.function_count(); ++i) {
    if (auto f = stats.function(i)) functions.push_back(*f);
  }
  std::vector<ipc::StatsSnapshot> runners;
  for (std::uint32_t i = 0; i < stats.runner_count(); ++i) {
    if (auto r = stats.snapshot(i)) runners.push_back(*r);
  }
  ipc::StatsTotalsSnapshot totals;
  if (const auto t = stats.totals()) totals = *t;

  w.family("snapfaas_requests_total", "counter", "Requests answered, by function and outcome (ok or the error type).");
  for (const auto& f : functions) {
    for (std::size_t o = 0; o < outcomes.size(); ++o) {
      w.sample("snapfaas_requests_total", {"function", f.function_name(), "outcome", outcomes[o]},
               static_cast<double>(f.outcomes[o]));
    }
  }
  w.family("snapfaas_unattributed_requests_total", "counter", "Requests naming no configured function, by outcome.");
  for (std::size_t o = 0; o < outcomes.size(); ++o) {
    w.sample("snapfaas_unattributed_requests_total", {"outcome", outcomes[o]}, static_cast<double>(totals.unattributed[o]));
  }
  w.family("snapfaas_request_starts_total", "counter", "Requests that reached a VM, by function: cold (load) or warm.");
  for (const auto& f : functions) {
    w.sample("snapfaas_request_starts_total", {"function", f.function_name(), "start", "cold"}, static_cast<double>(f.cold));
    w.sample("snapfaas_request_starts_total", {"function", f.function_name(), "start", "warm"}, static_cast<double>(f.warm));
  }
  // A family with one sample per function, labelled function: the function entry's `field`.
  auto per_function = [&w, &functions](std::string_view name, std::string_view type, std::string_view help,
                                       std::uint64_t ipc::StatsFunctionSnapshot::*field) {
    w.family(name, type, help);
    for (const auto& f : functions) w.sample(name, {"function", f.function_name()}, static_cast<double>(f.*field));
  };
  // KVM's own counts for cold starts, load to first response: what a restore costs after it.
  per_function("snapfaas_cold_starts_counted_total", "counter",
               "Successful cold starts whose KVM page faults and exits are counted below, by function.",
               &ipc::StatsFunctionSnapshot::cold_counted);
  per_function("snapfaas_cold_start_page_faults_total", "counter",
               "Page faults KVM took for the guest from the load to its first response, summed over those cold starts.",
               &ipc::StatsFunctionSnapshot::cold_page_faults_sum);
  per_function("snapfaas_cold_start_exits_total", "counter",
               "VM exits from the load to the guest's first response, summed over those cold starts.",
               &ipc::StatsFunctionSnapshot::cold_exits_sum);
  w.family("snapfaas_request_duration_seconds", "histogram",
           "Submission to answer in the supervisor, by function (log2 buckets; le is a bucket's exclusive bound).");
  std::array<std::string, ipc::kLatencyBuckets> bounds;
  for (std::size_t b = 0; b < bounds.size(); ++b) bounds[b] = bucket_bound(b);
  for (const auto& f : functions) {
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b + 1 < ipc::kLatencyBuckets; ++b) {  // the last bucket is open-ended: +Inf
      cumulative += f.latency_us_log2[b];
      w.sample("snapfaas_request_duration_seconds_bucket", {"function", f.function_name(), "le", bounds[b]},
               static_cast<double>(cumulative));
    }
    cumulative += f.latency_us_log2[ipc::kLatencyBuckets - 1];
    w.sample("snapfaas_request_duration_seconds_bucket", {"function", f.function_name(), "le", "+Inf"},
             static_cast<double>(cumulative));
    w.sample("snapfaas_request_duration_seconds_sum", {"function", f.function_name()},
             static_cast<double>(f.latency_us_sum) / 1e6);
    w.sample("snapfaas_request_duration_seconds_count", {"function", f.function_name()}, static_cast<double>(cumulative));
  }
  per_function("snapfaas_function_in_flight", "gauge", "Requests submitted and not yet answered, by function.",
               &ipc::StatsFunctionSnapshot::in_flight);
  w.family("snapfaas_vms", "gauge", "VMs holding a function: warm (idle) or busy (serving or loading).");
  for (const auto& f : functions) {
    std::uint64_t warm = 0, busy = 0;
    for (const auto& r : runners) {
      if (r.function_name() != f.function_name()) continue;
      if (r.state == ipc::RunnerState::kIdle) ++warm;
      if (r.state == ipc::RunnerState::kBusy || r.state == ipc::RunnerState::kLoading) ++busy;
    }
    w.sample("snapfaas_vms", {"function", f.function_name(), "state", "warm"}, static_cast<double>(warm));
    w.sample("snapfaas_vms", {"function", f.function_name(), "state", "busy"}, static_cast<double>(busy));
  }
  w.family("snapfaas_runners", "gauge", "Runner slots by state.");
  for (std::uint32_t s = 0; s < ipc::kRunnerStateCount; ++s) {
    std::uint64_t n = 0;
    for (const auto& r : runners) n += static_cast<std::uint32_t>(r.state) == s ? 1 : 0;
    w.sample("snapfaas_runners", {"state", ipc::runner_state_name(static_cast<ipc::RunnerState>(s))}, static_cast<double>(n));
  }
  w.family("snapfaas_queue_depth", "gauge", "Requests waiting for a VM.");
  w.sample("snapfaas_queue_depth", {}, static_cast<double>(totals.queue_depth));
  w.family("snapfaas_requests_in_flight", "gauge", "Requests submitted and not yet answered.");
  w.sample("snapfaas_requests_in_flight", {}, static_cast<double>(totals.in_flight));
  w.family("snapfaas_restores_total", "counter", "Cold starts by snapshot restore.");
  w.sample("snapfaas_restores_total", {}, static_cast<double>(totals.restores));
  w.family("snapfaas_boots_total", "counter", "Cold starts by boot.");
  w.sample("snapfaas_boots_total", {}, static_cast<double>(totals.boots));
  w.family("snapfaas_evictions_total", "counter", "Idle VMs evicted (memory budget or keep-alive).");
  w.sample("snapfaas_evictions_total", {}, static_cast<double>(totals.evictions));
  w.family("snapfaas_runner_failures_total", "counter", "Runners killed after a fault.");
  w.sample("snapfaas_runner_failures_total", {}, static_cast<double>(totals.runner_failures));
  w.family("snapfaas_draining", "gauge", "1 once the supervisor stopped taking requests (SIGTERM).");
  w.sample("snapfaas_draining", {}, totals.draining ? 1.0 : 0.0);

  w.family("snapfaas_http_connections", "gauge", "Open HTTP connections.");
  w.sample("snapfaas_http_connections", {}, static_cast<double>(http.connections_open));
  w.family("snapfaas_http_connections_total", "counter", "HTTP connections accepted.");
  w.sample("snapfaas_http_connections_total", {}, static_cast<double>(http.connections_accepted));
  w.family("snapfaas_http_rejected_total", "counter", "HTTP requests or connections refused by the front end, by reason.");
  const std::pair<std::string_view, std::uint64_t> rejected[] = {
      {"connection_cap", http.refused_connection_cap}, {"bad_request", http.bad_request},
      {"header_too_large", http.header_too_large},     {"request_too_large", http.request_too_large},
      {"timeout", http.timed_out},                     {"shutdown", http.draining}};
  for (const auto& [reason, n] : rejected) w.sample("snapfaas_http_rejected_total", {"reason", reason}, static_cast<double>(n));
  w.family("snapfaas_http_responses_total", "counter", "HTTP responses written, by status code (other: any other).");
  for (std::size_t i = 0; i < kHttpCodes.size(); ++i) {
    const std::string code = kHttpCodes[i] == 0 ? "other" : std::to_string(kHttpCodes[i]);
    w.sample("snapfaas_http_responses_total", {"code", code}, static_cast<double>(http.responses[i]));
  }
  return w.take();
}

}  // namespace snapfaas::supervisor
