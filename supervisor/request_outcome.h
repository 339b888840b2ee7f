// RequestOutcome: what became of one request, in the platform's one error vocabulary
// (docs/ARCHITECTURE.md, "Errors a request can get") plus success, draining and internal errors.
// The stats block counts requests by it (its names are the block's outcome names) and the HTTP
// front end turns it into a status code (http_api.h). outcome_of() is the one place that reads a
// RequestRecord's status/error to decide it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/run_stats.h"

namespace snapfaas::supervisor {

enum class RequestOutcome : std::uint32_t {
  kOk = 0,             ///< the function answered (stats block outcome 0: success)
  kFunctionError,      ///< the function raised, or answered something the supervisor refuses
  kFunctionExited,     ///< the runtime or its VM is gone (runner died)
  kOutOfMemory,        ///< the guest ran out of memory
  kResponseTooLarge,   ///< the answer did not fit
  kRequestTooLarge,    ///< the payload does not fit a channel slot
  kTimeout,            ///< past its deadline
  kFunctionUnhealthy,  ///< backed off after repeated failures
  kNoCapacity,         ///< queue full
  kUnknownFunction,    ///< no such function configured
  kDraining,           ///< the supervisor is shutting down
  kInternal,           ///< the platform failed (runner start, restore, channel)
};
inline constexpr std::uint32_t kRequestOutcomeCount = 12;

/// "ok", "function_error", ... "draining", "internal_error".
[[nodiscard]] std::string_view outcome_name(RequestOutcome outcome) noexcept;
/// Every name, in enum order (the stats block's outcome names).
[[nodiscard]] std::vector<std::string> outcome_names();

/// The outcome of a finished request. Today from its status ("ok", "dropped", "error") and error
/// text; when RequestRecord carries a typed error this becomes a plain conversion.
[[nodiscard]] RequestOutcome outcome_of(const RequestRecord& record) noexcept;

}  // namespace snapfaas::supervisor
