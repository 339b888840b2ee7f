// The error result's JSON (see error_result.h).
#include "ipc/error_result.h"

namespace snapfaas::ipc {

nlohmann::json make_error(ErrorType type, const std::string& message, nlohmann::json extra) {
  const char* name = error_type_name(type);
  nlohmann::json error = extra.is_object() ? std::move(extra) : nlohmann::json::object();
  error["type"] = name != nullptr ? name : "runner_failed";
  error["message"] = message.size() > kMaxErrorMessage ? message.substr(0, kMaxErrorMessage) : message;
  return error;
}

std::string error_result_line(ErrorType type, const std::string& message, nlohmann::json extra) {
  const nlohmann::json line = {{"ok", false}, {"error", make_error(type, message, std::move(extra))}};
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace snapfaas::ipc
