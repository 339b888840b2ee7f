// Error responses of the guest agent, in the vocabulary of ipc/error_type.h:
//   {"ok":false,"error":{"type":T,"message":M,<fields>},"duration_ns":N}
// rendered without Python (the reaper writes them after the Python process died) and never
// truncated: when the whole text does not fit `out`, nothing is written (length 0).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

#include "ipc/error_type.h"

namespace snapfaas::guest {

/// One extra member of the error object: a string (JSON-escaped) or an integer.
struct ErrorField {
  const char* key;
  std::string text;
  std::int64_t number = 0;
  bool is_number = false;
  static ErrorField str(const char* key, std::string value) { return {key, std::move(value), 0, false}; }
  static ErrorField num(const char* key, std::int64_t value) { return {key, {}, value, true}; }
};

/// Writes the error response into `out`; returns its length, or 0 when it does not fit.
/// `message` and string fields must be UTF-8 (they are JSON-escaped, not re-encoded).
[[nodiscard]] std::uint32_t write_error_json(std::span<std::uint8_t> out, ipc::ErrorType type,
                                             std::string_view message, std::initializer_list<ErrorField> fields = {},
                                             std::uint64_t duration_ns = 0) noexcept;

/// The last `max_bytes` bytes of UTF-8 `text`, starting on a character boundary.
[[nodiscard]] std::string utf8_tail(std::string_view text, std::size_t max_bytes);
/// The first `max_bytes` bytes of UTF-8 `text`, ending on a character boundary.
[[nodiscard]] std::string utf8_head(std::string_view text, std::size_t max_bytes);

}  // namespace snapfaas::guest
