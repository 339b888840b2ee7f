// Error responses without Python (see error_json.h).
#include "guest/agent/error_json.h"

#include <cstdio>
#include <cstring>

namespace snapfaas::guest {
namespace {

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
          out.push_back(c);  // UTF-8 bytes pass through (the text came from a Python str or the agent)
        }
    }
  }
  out.push_back('"');
}

bool continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

}  // namespace

std::string utf8_tail(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  std::size_t start = text.size() - max_bytes;
  while (start < text.size() && continuation(text[start])) ++start;
  return std::string(text.substr(start));
}

std::string utf8_head(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  std::size_t end = max_bytes;
  while (end > 0 && continuation(text[end])) --end;
  return std::string(text.substr(0, end));
}

std::uint32_t write_error_json(std::span<std::uint8_t> out, ipc::ErrorType type, std::string_view message,
                               std::initializer_list<ErrorField> fields, std::uint64_t duration_ns) noexcept {
  try {
    const char* name = ipc::error_type_name(type);
    std::string json = "{\"ok\":false,\"error\":{\"type\":";
    append_json_string(json, name != nullptr ? name : "function_error");
    json += ",\"message\":";
    append_json_string(json, utf8_head(message, ipc::kMaxErrorMessage));
    for (const ErrorField& f : fields) {
      json += ",";
      append_json_string(json, f.key);
      json += ":";
      if (f.is_number) {
        json += std::to_string(f.number);
      } else {
        append_json_string(json, f.text);
      }
    }
    json += "},\"duration_ns\":" + std::to_string(duration_ns) + "}";
    if (json.size() > out.size()) return 0;
    std::memcpy(out.data(), json.data(), json.size());
    return static_cast<std::uint32_t>(json.size());
  } catch (...) {  // std::bad_alloc
    return 0;
  }
}

}  // namespace snapfaas::guest
