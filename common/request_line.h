// The request line: one JSON object per line, the seed's format, read by snapfaas-supervisor (the
// workload file) and fc_wrapper (stdin):
//   {"time": 15, "user_id": 2, "function": "hello", "payload": {...}}
// Every field is optional here and checked for type when present: `time` and `user_id`
// non-negative integers, `function` a non-empty string, `payload` any JSON value (absent: {}, as
// an OpenWhisk invoke without parameters). What a reader needs on top (a replay needs time and
// function) it checks itself.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace snapfaas::common {

/// One parsed line (plain values). `error` non-empty: the line is unusable, and says why in one
/// line. A line of only whitespace is `blank` (neither a request nor an error).
struct RequestLine {
  bool blank = false;
  std::optional<std::uint64_t> time_ms;
  std::uint64_t user_id = 0;
  std::string function;  ///< "" when absent
  std::string payload;   ///< the payload, serialized compactly ("{}" when absent)
  std::string error;
};

/// Parses one line (nlohmann/json). Never throws.
[[nodiscard]] RequestLine parse_request_line(std::string_view line) noexcept;

/// The line for a request (no newline). `payload` is JSON text; text that is not JSON is written
/// as a JSON string.
[[nodiscard]] std::string format_request_line(std::uint64_t time_ms, std::uint64_t user_id, const std::string& function,
                                              const std::string& payload);

}  // namespace snapfaas::common
