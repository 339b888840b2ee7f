// ResponseCheck: whether the bytes a guest sent back as a successful response are a JSON value the
// supervisor may pass on. The guest is hostile: invalid UTF-8, garbage or nesting deep enough to
// exhaust the stack of a recursive serializer must become an error result for that request, never
// an exception in the supervisor. Validated with nlohmann/json's SAX parser (no document is built).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "ipc/error_type.h"

namespace snapfaas::supervisor {

/// Deepest nesting of arrays/objects accepted in a response.
inline constexpr std::size_t kMaxResponseDepth = 512;

/// nullopt when `body` is one JSON value (valid UTF-8) nested at most `max_depth` deep, else a
/// one-line reason that quotes none of the body's bytes.
[[nodiscard]] std::optional<std::string> response_problem(std::string_view body,
                                                          std::size_t max_depth = kMaxResponseDepth);

/// An error a guest reported (a response with an error status), checked.
struct GuestError {
  ipc::ErrorType type = ipc::ErrorType::kBadResponse;
  nlohmann::json error;  ///< {"type", "message", ...}: the guest's error object (type and message checked)
};

/// Parses the body of an error response: `{"ok": false, "error": {"type": T, "message": M, ...}}`
/// with T a type the guest may report (ipc::guest_may_report) and M a string; other members of
/// the error object are kept (they are valid JSON: checked first with response_problem). Anything
/// else is a bad_response: nullopt and `why` says what was wrong, quoting no guest bytes.
[[nodiscard]] std::optional<GuestError> parse_guest_error(std::string_view body, std::string* why);

}  // namespace snapfaas::supervisor
