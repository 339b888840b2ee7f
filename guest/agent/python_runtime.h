// PythonRuntime: the embedded CPython interpreter of the agent (Debian's libpython3.11): starts it,
// imports the function module, and turns one request payload into one response payload.
//
// Response payload: guest/agent/response_json.h (duration_ns: the handle() call alone).
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

#include "guest/agent/response_json.h"
#include "ipc/channel_layout.h"

namespace snapfaas::guest {

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
