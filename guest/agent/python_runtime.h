// PythonRuntime: the embedded CPython interpreter of the agent (Debian's libpython3.11): starts it,
// imports the function module, and turns one request payload into one response payload.
//
// Response payload (UTF-8 JSON, written at the start of the request's slot, never truncated):
//   success:  {"ok": true, "result": <handle()'s return value>, "duration_ns": N}
//   failure:  {"ok": false, "error": {"type": T, "message": "...", ...}, "duration_ns": N}
// with T from ipc/error_type.h (guest/agent/error_json.h renders it):
//   function_error      handle() raised, or its result is not JSON-serialisable: "exception" (the
//                       class name, e.g. "ValueError"), "traceback" (innermost kMaxTraceback bytes)
//   response_too_large  the response does not fit the slot: "size" (bytes needed), "limit" (slot)
//   bad_request         the request is not UTF-8 JSON ("exception": the decoder's class), or a bad
//                       slot/length (written by the agent loop)
// sys.exit() / SystemExit in handle() ends the runtime process with that status: the reaper answers
// function_exited (guest/agent/reaper.h). duration_ns = wall time of the handle() call alone.
// ResponseStatus: kOk on success; kHandlerError for function_error / response_too_large; kRejected
// for bad_request. Messages longer than kMaxErrorMessage characters are cut.
//
// After a restore (reseed): the global `random` generator is reseeded from the restore record,
// tempfile's cached name generator is dropped and multiprocessing's authkey renewed (when those
// modules are loaded); then the function's optional `on_restore()` runs. Not refreshable: the str/
// bytes hash seed (PYTHONHASHSEED, fixed when the interpreter started: hash() and set order are the
// same in every clone) and any generator the function made itself at import time (its on_restore()
// must reseed those).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "guest/agent/handler_outcome.h"
#include "ipc/channel_layout.h"
#include "ipc/error_type.h"

namespace snapfaas::guest {

/// One interpreter per process (CPython's rule). Single-threaded: the GIL is held throughout.
class PythonRuntime {
 public:
  static constexpr std::size_t kMaxErrorMessage = ipc::kMaxErrorMessage;

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
  /// SystemExit raised by the handler ends this process (_exit with its status: function_exited).
  [[nodiscard]] HandlerOutcome handle(std::span<const std::uint8_t> request, std::span<std::uint8_t> out) noexcept;

  /// After a restore: reseeds the runtime's own generators from `entropy` and calls the handler
  /// module's on_restore() when it has one (before import: stdlib only). Errors are logged.
  /// Returns false when on_restore (or the reseed) raised.
  bool reseed(std::span<const std::uint8_t> entropy) noexcept;

 private:
  struct Objects;
  PythonRuntime();
  std::unique_ptr<Objects> objects_;
};

}  // namespace snapfaas::guest
