// The request line (see request_line.h).
#include "common/request_line.h"

#include <nlohmann/json.hpp>

namespace snapfaas::common {
namespace {

[[nodiscard]] bool non_negative_integer(const nlohmann::json& j) {
  return j.is_number_unsigned() || (j.is_number_integer() && j.get<std::int64_t>() >= 0);
}

}  // namespace

RequestLine parse_request_line(std::string_view line) noexcept {
  RequestLine out;
  if (line.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    out.blank = true;
    return out;
  }
  try {
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) {
      out.error = "not valid JSON";
      return out;
    }
    if (!j.is_object()) {
      out.error = "not a JSON object";
      return out;
    }
    if (const auto time = j.find("time"); time != j.end()) {
      if (!non_negative_integer(*time)) {
        out.error = "'time' must be a non-negative integer (ms)";
        return out;
      }
      out.time_ms = time->get<std::uint64_t>();
    }
    if (const auto user = j.find("user_id"); user != j.end()) {
      if (!non_negative_integer(*user)) {
        out.error = "'user_id' must be a non-negative integer";
        return out;
      }
      out.user_id = user->get<std::uint64_t>();
    }
    if (const auto function = j.find("function"); function != j.end()) {
      if (!function->is_string() || function->get<std::string>().empty()) {
        out.error = "'function' must be a non-empty string";
        return out;
      }
      out.function = function->get<std::string>();
    }
    const auto payload = j.find("payload");
    out.payload = payload == j.end() ? "{}" : payload->dump();
  } catch (const std::exception& e) {  // allocation failure: the line is refused, nothing thrown
    out.error = e.what();
  }
  return out;
}

std::string format_request_line(std::uint64_t time_ms, std::uint64_t user_id, const std::string& function,
                                const std::string& payload) {
  nlohmann::json j;
  j["time"] = time_ms;
  j["user_id"] = user_id;
  j["function"] = function;
  j["payload"] = nlohmann::json::parse(payload, nullptr, false);
  if (j["payload"].is_discarded()) j["payload"] = payload;
  return j.dump();
}

}  // namespace snapfaas::common
