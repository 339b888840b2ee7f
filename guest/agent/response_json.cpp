// Response payloads: JSON string escaping and the interpreter-free error response.
#include "guest/agent/response_json.h"

#include <cstdio>
#include <cstring>

namespace snapfaas::guest {

void append_json_string(std::string& out, std::string_view text) {
  out.push_back('"');
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof(escaped), "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += escaped;
        } else {
          out.push_back(c);  // UTF-8 bytes pass through (the text came from an interpreter's string)
        }
    }
  }
  out.push_back('"');
}

std::uint32_t write_error_json(std::span<std::uint8_t> out, const std::string& type, const std::string& message,
                               std::uint64_t duration_ns) noexcept {
  try {
    std::string json = "{\"ok\":false,\"error\":{\"type\":";
    append_json_string(json, type);
    json += ",\"message\":";
    append_json_string(json, message);
    json += "},\"duration_ns\":" + std::to_string(duration_ns) + "}";
    if (json.size() > out.size()) return 0;
    std::memcpy(out.data(), json.data(), json.size());
    return static_cast<std::uint32_t>(json.size());
  } catch (...) {  // std::bad_alloc
    return 0;
  }
}

}  // namespace snapfaas::guest
