// Per-function failure counts and back-off (see function_health.h).
#include "supervisor/function_health.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "ipc/error_result.h"

namespace snapfaas::supervisor {

FunctionHealth::FunctionHealth(HealthOptions options, std::vector<std::string> names)
    : options_(options), names_(std::move(names)), states_(names_.size()) {}

void FunctionHealth::failed(std::uint32_t function, Clock::time_point now) {
  State& h = states_[function];
  if (++h.consecutive_failures < options_.unhealthy_after) return;
  h.backoff = h.backoff.count() == 0 ? options_.backoff_initial : std::min(options_.backoff_max, h.backoff * 2);
  h.backoff_until = now + h.backoff;
  spdlog::warn("supervisor: function {}: {} VM failures in a row, backed off for {} ms", names_[function],
               h.consecutive_failures, h.backoff.count());
}

nlohmann::json FunctionHealth::unhealthy_error(std::uint32_t function, Clock::time_point now) const {
  const State& h = states_[function];
  if (h.consecutive_failures < options_.unhealthy_after || now >= h.backoff_until) return nullptr;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(h.backoff_until - now).count() + 1;
  return ipc::make_error(ipc::ErrorType::kFunctionUnhealthy,
                         "function " + names_[function] + ": its last " + std::to_string(h.consecutive_failures) +
                             " VMs failed; backed off",
                         {{"retry_after_ms", left}});
}

}  // namespace snapfaas::supervisor
