// Seed request-line parsing with nlohmann/json.
#include "wrapper/request_line.h"

#include <nlohmann/json.hpp>

namespace snapfaas::wrapper {

RequestLine parse_request_line(std::string_view line) noexcept {
  RequestLine out;
  if (line.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    out.blank = true;
    return out;
  }
  try {
    const nlohmann::json request = nlohmann::json::parse(line);
    if (!request.is_object()) {
      out.error = "request is not a JSON object";
    } else if (!request.contains("payload")) {
      out.error = "request has no \"payload\"";
    } else if (request.contains("function") && !request["function"].is_string()) {
      out.error = "\"function\" is not a string";
    } else if (request.contains("time") && !request["time"].is_number()) {
      out.error = "\"time\" is not a number";
    } else if (request.contains("user_id") && !request["user_id"].is_number_integer()) {
      out.error = "\"user_id\" is not an integer";
    } else {
      out.payload = request["payload"].dump();
      if (request.contains("function")) out.function = request["function"].get<std::string>();
    }
  } catch (const nlohmann::json::exception& e) {
    out.error = std::string("invalid JSON: ") + e.what();
  } catch (const std::exception& e) {
    out.error = e.what();
  }
  return out;
}

}  // namespace snapfaas::wrapper
