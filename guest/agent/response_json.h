// Response payloads the guest agent writes into a request's slot, whatever the runtime (CPython,
// Node.js): the outcome of one call and the error JSON written without any interpreter.
//
// Response payload (UTF-8 JSON, written at the start of the request's slot, never truncated):
//   success:  {"ok": true, "result": <the handler's return value>, "duration_ns": N}
//   failure:  {"ok": false, "error": {"type": "ValueError", "message": "..."}, "duration_ns": N}
// duration_ns = wall time of the handler call alone (0 when the handler was not called).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "ipc/channel_layout.h"

namespace snapfaas::guest {

/// Result of one call: the response was written to out[0, length).
struct HandlerOutcome {
  ipc::ResponseStatus status = ipc::ResponseStatus::kOk;
  std::uint32_t length = 0;
  std::uint64_t duration_ns = 0;
};

/// Appends `text` as a JSON string literal (quotes, backslash and control characters escaped;
/// other bytes, UTF-8 included, pass through).
void append_json_string(std::string& out, std::string_view text);

/// Writes {"ok":false,"error":{"type":T,"message":M},"duration_ns":N} into `out` without an
/// interpreter (type and message are JSON-escaped); returns the length, or 0 when even that does
/// not fit.
[[nodiscard]] std::uint32_t write_error_json(std::span<std::uint8_t> out, const std::string& type,
                                             const std::string& message, std::uint64_t duration_ns) noexcept;

}  // namespace snapfaas::guest
