// PythonRuntime: the embedded CPython interpreter of the agent (Debian's libpython3.11): starts it,
// imports the function module, and turns one request payload into one response payload.
//
// Response payload (UTF-8 JSON, written at the start of the request's slot, never truncated):
//   success:  {"ok": true, "result": <handle()'s return value>, "duration_ns": N}
//   failure:  {"ok": false, "error": {"type": "ValueError", "message": "..."}, "duration_ns": N}
// duration_ns = wall time of the handle() call alone (0 when handle() was not called).
// ResponseDesc::status: kOk on success; kHandlerError when handle() raised, its result was not
// JSON-serialisable, or the response did not fit the slot (type "ResponseTooLarge"); kRejected when
// the request itself was unusable (not UTF-8 / not JSON: the decoder's exception type, e.g.
// "JSONDecodeError"; or a bad slot/length: type "BadRequest", written by the agent loop).
// Error messages longer than kMaxErrorMessage characters are cut (the message only).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "ipc/channel_layout.h"

namespace snapfaas::guest {

/// Result of one call: the response was written to out[0, length).
struct HandlerOutcome {
  ipc::ResponseStatus status = ipc::ResponseStatus::kOk;
  std::uint32_t length = 0;
  std::uint64_t duration_ns = 0;
};

/// Writes {"ok":false,"error":{"type":T,"message":M},"duration_ns":N} into `out` without Python
/// (type and message are JSON-escaped); returns the length, or 0 when even that does not fit.
[[nodiscard]] std::uint32_t write_error_json(std::span<std::uint8_t> out, const std::string& type,
                                             const std::string& message, std::uint64_t duration_ns) noexcept;

/// One interpreter per process (CPython's rule). Single-threaded: the GIL is held throughout.
class PythonRuntime {
 public:
  static constexpr std::size_t kMaxErrorMessage = 1000;

  /// Initialises CPython (isolated config: no environment, no user site, no bytecode writing,
  /// no signal handlers) and imports json. Throws AgentFailure(kPythonInit).
  [[nodiscard]] static std::unique_ptr<PythonRuntime> start();
  ~PythonRuntime();
  PythonRuntime(const PythonRuntime&) = delete;
  PythonRuntime& operator=(const PythonRuntime&) = delete;

  /// Puts `module_dir` first on sys.path, imports `module` and looks up `function`.
  /// Throws AgentFailure(kImport) carrying the Python exception text.
  void import_handler(const std::string& module_dir, const std::string& module, const std::string& function);

  /// Decodes `request` (JSON bytes), calls the handler, writes the response JSON into `out`.
  /// `request` and `out` may overlap (the payload is copied into Python first). Never throws.
  [[nodiscard]] HandlerOutcome handle(std::span<const std::uint8_t> request, std::span<std::uint8_t> out) noexcept;

 private:
  struct Objects;
  PythonRuntime();
  std::unique_ptr<Objects> objects_;
};

}  // namespace snapfaas::guest
