// The error result's JSON, built on the host side (supervisor result lines, fc_wrapper's output,
// the HTTP front's bodies): {"type": <ipc/error_type.h name>, "message": <one line>, ...fields}.
// The guest agent renders the same shape without a JSON library (guest/agent/error_json.h).
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "ipc/error_type.h"

namespace snapfaas::ipc {

/// The "error" object: type name, message (cut at kMaxErrorMessage bytes) and the type-specific
/// fields of `extra` (an object, or null for none).
[[nodiscard]] nlohmann::json make_error(ErrorType type, const std::string& message, nlohmann::json extra = nullptr);

/// A whole error result, {"ok": false, "error": make_error(...)}, as one compact line (invalid
/// UTF-8 in the message replaced, never thrown).
[[nodiscard]] std::string error_result_line(ErrorType type, const std::string& message, nlohmann::json extra = nullptr);

}  // namespace snapfaas::ipc
