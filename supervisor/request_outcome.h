// RequestOutcome: what became of one request — ok, or one type of the platform's one error
// vocabulary (docs/ARCHITECTURE.md, "Errors a request can get"). Values and names follow
// ipc/error_type.h's ErrorType (the `failures` branch: 1 = function_error ... 13 = shutdown) with
// ok = 0, so that adopting it is a rename. The stats block counts requests by outcome (these names
// are its outcome names) and the HTTP front end turns one into a status (http_api.h). outcome_of()
// is the one place that reads a RequestRecord's status/error to decide it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/run_stats.h"

namespace snapfaas::supervisor {

enum class RequestOutcome : std::uint32_t {
  kOk = 0,                 ///< the function answered (stats block outcome 0: success)
  kFunctionError = 1,      ///< the handler raised
  kFunctionExited = 2,     ///< the function's runtime exited or was killed
  kOutOfMemory = 3,        ///< the guest ran out of memory
  kResponseTooLarge = 4,   ///< the answer did not fit its slot
  kRequestTooLarge = 5,    ///< the payload does not fit a slot
  kTimeout = 6,            ///< past its deadline
  kFunctionUnhealthy = 7,  ///< backed off after repeated failures
  kNoCapacity = 8,         ///< queue full
  kUnknownFunction = 9,    ///< no such function configured
  kBadRequest = 10,        ///< the payload is not JSON the function can take
  kBadResponse = 11,       ///< the guest's answer broke the protocol
  kRunnerFailed = 12,      ///< the runner (VMM) failed: start, restore, its process died
  kShutdown = 13,          ///< the supervisor stopped (drains) before it was answered
};
inline constexpr std::uint32_t kRequestOutcomeCount = 14;

/// "ok", "function_error", ... "shutdown".
[[nodiscard]] std::string_view outcome_name(RequestOutcome outcome) noexcept;
/// Every name, in enum order (the stats block's outcome names).
[[nodiscard]] std::vector<std::string> outcome_names();

/// The outcome of a finished request. Today from its status ("ok", "dropped", "error") and error
/// text; when RequestRecord carries a typed error this becomes a plain conversion.
[[nodiscard]] RequestOutcome outcome_of(const RequestRecord& record) noexcept;

}  // namespace snapfaas::supervisor
