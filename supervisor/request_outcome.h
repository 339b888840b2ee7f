// The outcome of one finished request as the stats block counts it and the HTTP front end answers
// it: 0 for ok, else its type of the one error vocabulary (ipc/error_type.h, ErrorType's value).
// outcome_index() is the one place that reads a RequestRecord's result for that.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ipc/error_type.h"
#include "supervisor/run_stats.h"

namespace snapfaas::supervisor {

/// Outcomes the stats block counts: ok + every ErrorType.
inline constexpr std::uint32_t kRequestOutcomeCount = ipc::kMaxErrorType + 1;

/// "ok", then ipc::error_type_name(1 .. kMaxErrorType), by index (the stats block's outcome names).
[[nodiscard]] std::vector<std::string> outcome_names();

/// 0 when the request was answered ok, else the ErrorType of its error (runner_failed when the
/// record's error names no known type).
[[nodiscard]] std::uint32_t outcome_index(const RequestRecord& record) noexcept;

}  // namespace snapfaas::supervisor
