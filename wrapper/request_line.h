// One line of fc_wrapper's input, in the seed's JSON-lines format:
//   {"time": 15, "user_id": 2, "function": "hello", "payload": {...}}
// Only `payload` goes to the guest (serialised compactly); the other fields are optional and
// checked for type when present.
#pragma once

#include <string>
#include <string_view>

namespace snapfaas::wrapper {

/// A parsed line: `payload` holds the JSON bytes for the guest, or `error` says why the line is
/// unusable. A blank line (only whitespace) is neither: `blank` is set.
struct RequestLine {
  bool blank = false;
  std::string payload;
  std::string function;  ///< "" when absent
  std::string error;     ///< non-empty: malformed
};

/// Parses one input line. Never throws.
[[nodiscard]] RequestLine parse_request_line(std::string_view line) noexcept;

}  // namespace snapfaas::wrapper
