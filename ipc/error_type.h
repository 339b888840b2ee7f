// The one vocabulary of request errors, from the guest agent to the supervisor's result lines (and
// later the HTTP front's status codes). Every error result a request can get is
//
//   {"ok": false, "error": {"type": "<name>", "message": "<one line>", <type-specific fields>}}
//
// with `type` one of the names below (never anything else). Type-specific fields:
//   function_error      "exception" (the Python class name, e.g. "ValueError"), "traceback" (text,
//                       at most kMaxTraceback bytes, oldest frames cut first)
//   function_exited     "status" (exit status 0..255) or "signal" (the signal that ended it)
//   out_of_memory       (none beyond the message; the guest kernel OOM-killed the function)
//   response_too_large  "size" (bytes the response needed), "limit" (bytes of the slot)
//   request_too_large   "size", "limit" (the same, for the request payload)
//   timeout             "timeout_ms" (the deadline that passed)
//   function_unhealthy  "retry_after_ms" (how long the function is backed off for)
//   bad_request         (the request payload is not JSON the function can take)
//   bad_response        (the guest answered something that is not a valid response)
//   runner_failed       (the VMM failed: restore, start, or the runner process died)
//   no_capacity, unknown_function, shutdown: none.
// Who may say what: the guest agent reports function_error, function_exited, out_of_memory,
// response_too_large and bad_request (kGuestMayReport); the supervisor decides the rest and treats a
// guest naming any other type as bad_response. After function_exited / out_of_memory the VM is
// discarded (the agent stops it itself); a bad_response VM is discarded by the supervisor.
//
// Freestanding C++ like ipc/channel_layout.h: the guest agent and ring-3 test guests include it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace snapfaas::ipc {

enum class ErrorType : std::uint32_t {
  kFunctionError = 1,      ///< the handler raised
  kFunctionExited = 2,     ///< the function's runtime exited or was killed (not by the OOM killer)
  kOutOfMemory = 3,        ///< the guest kernel OOM-killed the function's runtime
  kResponseTooLarge = 4,   ///< the response does not fit its slot (never truncated)
  kRequestTooLarge = 5,    ///< the request does not fit a slot (refused before any cold start)
  kTimeout = 6,            ///< past its deadline: the VM was killed and replaced
  kFunctionUnhealthy = 7,  ///< the function's VMs kept failing: backed off, not tried now
  kNoCapacity = 8,         ///< the queue is full
  kUnknownFunction = 9,    ///< no function of that name
  kBadRequest = 10,        ///< the payload is not JSON (the agent could not decode it)
  kBadResponse = 11,       ///< the guest's response broke the protocol (invalid JSON, bad type, ...)
  kRunnerFailed = 12,      ///< the runner (VMM) failed: restore, start, crash
  kShutdown = 13,          ///< the supervisor stopped before the request was answered
};
inline constexpr std::uint32_t kMaxErrorType = 13;

/// Bytes of a function_error traceback at most (the agent keeps the innermost frames).
inline constexpr std::size_t kMaxTraceback = 4096;
/// Bytes of an error message at most (cut, never failing).
inline constexpr std::size_t kMaxErrorMessage = 1000;

/// The JSON name of `type` ("function_error", ...), or nullptr for a value outside the enum.
constexpr const char* error_type_name(ErrorType type) noexcept {
  switch (type) {
    case ErrorType::kFunctionError: return "function_error";
    case ErrorType::kFunctionExited: return "function_exited";
    case ErrorType::kOutOfMemory: return "out_of_memory";
    case ErrorType::kResponseTooLarge: return "response_too_large";
    case ErrorType::kRequestTooLarge: return "request_too_large";
    case ErrorType::kTimeout: return "timeout";
    case ErrorType::kFunctionUnhealthy: return "function_unhealthy";
    case ErrorType::kNoCapacity: return "no_capacity";
    case ErrorType::kUnknownFunction: return "unknown_function";
    case ErrorType::kBadRequest: return "bad_request";
    case ErrorType::kBadResponse: return "bad_response";
    case ErrorType::kRunnerFailed: return "runner_failed";
    case ErrorType::kShutdown: return "shutdown";
  }
  return nullptr;
}

namespace detail {
constexpr bool names_equal(const char* a, const char* b, std::size_t b_len) noexcept {
  std::size_t i = 0;
  for (; i < b_len; ++i) {
    if (a[i] == '\0' || a[i] != b[i]) return false;
  }
  return a[i] == '\0';
}
}  // namespace detail

/// The type named `name` (`len` bytes, not NUL-terminated), or 0 (no type) when none is.
constexpr std::uint32_t error_type_from_name(const char* name, std::size_t len) noexcept {
  for (std::uint32_t t = 1; t <= kMaxErrorType; ++t) {
    if (detail::names_equal(error_type_name(static_cast<ErrorType>(t)), name, len)) return t;
  }
  return 0;
}

/// True for the types a guest agent may report (see the file comment).
constexpr bool guest_may_report(ErrorType type) noexcept {
  return type == ErrorType::kFunctionError || type == ErrorType::kFunctionExited ||
         type == ErrorType::kOutOfMemory || type == ErrorType::kResponseTooLarge || type == ErrorType::kBadRequest;
}

/// True when the VM that produced this error must not serve again.
constexpr bool discards_vm(ErrorType type) noexcept {
  return type == ErrorType::kFunctionExited || type == ErrorType::kOutOfMemory || type == ErrorType::kTimeout ||
         type == ErrorType::kBadResponse || type == ErrorType::kRunnerFailed;
}

/// The HTTP status a front answers with for `type` (OpenWhisk's habit: 502 for the function's own
/// failures, 504 for timeouts, 503 while it cannot be run).
constexpr int http_status(ErrorType type) noexcept {
  switch (type) {
    case ErrorType::kFunctionError:
    case ErrorType::kFunctionExited:
    case ErrorType::kOutOfMemory:
    case ErrorType::kResponseTooLarge:
    case ErrorType::kBadResponse: return 502;
    case ErrorType::kRequestTooLarge: return 413;
    case ErrorType::kTimeout: return 504;
    case ErrorType::kFunctionUnhealthy:
    case ErrorType::kNoCapacity:
    case ErrorType::kShutdown: return 503;
    case ErrorType::kUnknownFunction: return 404;
    case ErrorType::kBadRequest: return 400;
    case ErrorType::kRunnerFailed: return 500;
  }
  return 500;
}

static_assert(error_type_from_name("timeout", 7) == static_cast<std::uint32_t>(ErrorType::kTimeout));
static_assert(error_type_from_name("timeou", 6) == 0);
static_assert(error_type_from_name("timeoutx", 8) == 0);
static_assert(error_type_name(static_cast<ErrorType>(kMaxErrorType)) != nullptr);
static_assert(error_type_name(static_cast<ErrorType>(kMaxErrorType + 1)) == nullptr);

}  // namespace snapfaas::ipc
