// Request outcomes (see request_outcome.h).
#include "supervisor/request_outcome.h"

namespace snapfaas::supervisor {
namespace {

constexpr std::string_view kNames[kRequestOutcomeCount] = {
    "ok",          "function_error",   "function_exited", "out_of_memory", "response_too_large",
    "request_too_large", "timeout",    "function_unhealthy", "no_capacity", "unknown_function",
    "bad_request", "bad_response",     "runner_failed",   "shutdown"};

[[nodiscard]] bool starts_with(std::string_view text, std::string_view prefix) noexcept {
  return text.substr(0, prefix.size()) == prefix;
}

}  // namespace

std::string_view outcome_name(RequestOutcome outcome) noexcept {
  const auto i = static_cast<std::uint32_t>(outcome);
  return i < kRequestOutcomeCount ? kNames[i] : "runner_failed";
}

std::vector<std::string> outcome_names() { return {std::begin(kNames), std::end(kNames)}; }

RequestOutcome outcome_of(const RequestRecord& record) noexcept {
  if (record.status == "ok") return RequestOutcome::kOk;
  if (record.status == "dropped") return RequestOutcome::kNoCapacity;
  const std::string_view error = record.error;
  if (starts_with(error, "unknown function")) return RequestOutcome::kUnknownFunction;
  if (starts_with(error, "deadline exceeded")) return RequestOutcome::kTimeout;
  if (starts_with(error, "handler error")) return RequestOutcome::kFunctionError;
  if (starts_with(error, "bad response")) return RequestOutcome::kBadResponse;
  if (starts_with(error, "shutdown before completion")) return RequestOutcome::kShutdown;
  return RequestOutcome::kRunnerFailed;  // runner died, did not start, restore failed, request not sent
}

}  // namespace snapfaas::supervisor
