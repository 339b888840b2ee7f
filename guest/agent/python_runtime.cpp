// PythonRuntime: CPython start-up, handler import, and the request → response call.
#define PY_SSIZE_T_CLEAN
#include <Python.h>  // first, as the CPython embedding docs require

#include "guest/agent/python_runtime.h"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <utility>

#include "guest/agent/agent_failure.h"
#include "guest/agent/agent_log.h"
#include "guest/agent/error_json.h"
#include <unistd.h>

namespace snapfaas::guest {
namespace {

struct PyDecRef {
  void operator()(PyObject* object) const noexcept { Py_XDECREF(object); }
};
/// Owns one strong reference.
using PyRef = std::unique_ptr<PyObject, PyDecRef>;

struct PythonError {
  std::string type = "Exception";
  std::string message;
  std::string traceback;
  bool system_exit = false;
  int exit_status = 0;  ///< system_exit: SystemExit.code as an exit status
};

// Set by PythonRuntime::start: traceback.format_exception (borrowed through the runtime's Objects).
PyObject* g_format_exception = nullptr;

/// SystemExit.code as a process exit status (None: 0, an int: its low byte, anything else: 1).
int exit_status_of(PyObject* value) {
  PyRef code(value != nullptr ? PyObject_GetAttrString(value, "code") : nullptr);
  if (!code) {
    PyErr_Clear();
    return 1;
  }
  if (code.get() == Py_None) return 0;
  if (PyLong_Check(code.get())) {
    const long v = PyLong_AsLong(code.get());
    if (PyErr_Occurred()) {
      PyErr_Clear();
      return 1;
    }
    return static_cast<int>(v & 0xFF);
  }
  return 1;
}

std::string utf8_of(PyObject* text) {
  Py_ssize_t size = 0;
  const char* data = PyUnicode_AsUTF8AndSize(text, &size);
  if (data == nullptr) {  // e.g. lone surrogates
    PyErr_Clear();
    return "<unprintable>";
  }
  return std::string(data, static_cast<std::size_t>(size));
}

/// Takes (and clears) the pending Python exception: its class name and str(), the latter cut to
/// PythonRuntime::kMaxErrorMessage characters.
PythonError take_exception() {
  PyObject* type = nullptr;
  PyObject* value = nullptr;
  PyObject* traceback = nullptr;
  PyErr_Fetch(&type, &value, &traceback);
  PyErr_NormalizeException(&type, &value, &traceback);
  PyRef owned_type(type), owned_value(value), owned_traceback(traceback);
  PythonError error;
  if (type != nullptr && PyErr_GivenExceptionMatches(type, PyExc_SystemExit)) {
    error.system_exit = true;
    error.exit_status = exit_status_of(value);
  }
  if (g_format_exception != nullptr && type != nullptr) {
    PyRef lines(PyObject_CallFunctionObjArgs(g_format_exception, type, value != nullptr ? value : Py_None,
                                             traceback != nullptr ? traceback : Py_None, nullptr));
    PyRef empty(PyUnicode_FromString(""));
    PyRef joined(lines && empty ? PyUnicode_Join(empty.get(), lines.get()) : nullptr);
    if (joined) error.traceback = utf8_tail(utf8_of(joined.get()), ipc::kMaxTraceback);
    PyErr_Clear();
  }
  if (type != nullptr) {
    PyRef name(PyObject_GetAttrString(type, "__name__"));
    if (name && PyUnicode_Check(name.get())) error.type = utf8_of(name.get());
  }
  if (value != nullptr) {
    PyRef text(PyObject_Str(value));
    if (text) {
      PyRef cut(PyUnicode_Substring(text.get(), 0, PythonRuntime::kMaxErrorMessage));
      if (cut) error.message = utf8_of(cut.get());
    }
  }
  PyErr_Clear();
  return error;
}

std::uint64_t now_ns() noexcept {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

}  // namespace

struct PythonRuntime::Objects {
  PyRef json_loads;
  PyRef json_dumps;
  PyRef dumps_kwargs;  // {"allow_nan": False, "separators": (",", ":")}: strict, compact JSON
  PyRef format_exception;  // traceback.format_exception
  PyRef reseed;            // kReseedSource's _snapfaas_reseed(seed: bytes, module)
  PyRef module;            // the handler module (None before import_handler)
  PyRef handle;
};

namespace {
// What a restore refreshes inside CPython (see python_runtime.h). Runs with the handler module
// (or None) and the record's entropy; only modules already imported are touched (one imported
// later seeds itself from the kernel, whose CRNG the agent reseeded first).
constexpr const char* kReseedSource = R"PY(
def _snapfaas_reseed(seed, module):
    import sys
    r = sys.modules.get('random')
    if r is not None:
        r.seed(int.from_bytes(seed, 'little'))
    t = sys.modules.get('tempfile')
    if t is not None:
        t._name_sequence = None
    mp = sys.modules.get('multiprocessing.process')
    if mp is not None:
        import os
        mp.current_process().authkey = os.urandom(32)
    hook = getattr(module, 'on_restore', None)
    if callable(hook):
        hook()
)PY";
}  // namespace

PythonRuntime::PythonRuntime() : objects_(std::make_unique<Objects>()) {}

std::unique_ptr<PythonRuntime> PythonRuntime::start() {
  PyConfig config;
  PyConfig_InitIsolatedConfig(&config);
  config.write_bytecode = 0;           // /srv is read-only in the guest
  config.install_signal_handlers = 0;  // the agent owns its signals
  config.parse_argv = 0;
  const PyStatus status = Py_InitializeFromConfig(&config);
  PyConfig_Clear(&config);
  if (PyStatus_Exception(status)) {
    throw AgentFailure(ipc::AgentFatal::kPythonInit,
                       std::string("Py_InitializeFromConfig: ") + (status.err_msg ? status.err_msg : "failed"));
  }
  std::unique_ptr<PythonRuntime> runtime(new PythonRuntime());
  Objects& o = *runtime->objects_;
  PyRef json(PyImport_ImportModule("json"));
  if (json) {
    o.json_loads.reset(PyObject_GetAttrString(json.get(), "loads"));
    o.json_dumps.reset(PyObject_GetAttrString(json.get(), "dumps"));
    o.dumps_kwargs.reset(Py_BuildValue("{s:O,s:(ss)}", "allow_nan", Py_False, "separators", ",", ":"));
  }
  if (!o.json_loads || !o.json_dumps || !o.dumps_kwargs) {
    const PythonError error = take_exception();
    throw AgentFailure(ipc::AgentFatal::kPythonInit, "import json: " + error.type + ": " + error.message);
  }
  PyRef traceback(PyImport_ImportModule("traceback"));
  if (traceback) o.format_exception.reset(PyObject_GetAttrString(traceback.get(), "format_exception"));
  PyRef globals(PyDict_New());
  if (globals && PyDict_SetItemString(globals.get(), "__builtins__", PyEval_GetBuiltins()) == 0) {
    PyRef ran(PyRun_String(kReseedSource, Py_file_input, globals.get(), globals.get()));
    if (ran) o.reseed.reset(Py_XNewRef(PyDict_GetItemString(globals.get(), "_snapfaas_reseed")));
  }
  if (!o.format_exception || !o.reseed) {
    const PythonError error = take_exception();
    throw AgentFailure(ipc::AgentFatal::kPythonInit, "agent helpers: " + error.type + ": " + error.message);
  }
  o.module.reset(Py_NewRef(Py_None));
  g_format_exception = o.format_exception.get();
  return runtime;
}

PythonRuntime::~PythonRuntime() {
  g_format_exception = nullptr;
  objects_.reset();  // drop our references while the interpreter is alive
  if (Py_IsInitialized()) Py_FinalizeEx();
}

void PythonRuntime::import_handler(const std::string& module_dir, const std::string& module,
                                   const std::string& function) {
  PyObject* path = PySys_GetObject("path");  // borrowed
  PyRef dir(PyUnicode_DecodeFSDefault(module_dir.c_str()));
  if (path == nullptr || !dir || PyList_Insert(path, 0, dir.get()) != 0) {
    const PythonError error = take_exception();
    throw AgentFailure(ipc::AgentFatal::kImport, "sys.path.insert(0, " + module_dir + "): " + error.message);
  }
  PyRef imported(PyImport_ImportModule(module.c_str()));
  if (!imported) {
    const PythonError error = take_exception();
    throw AgentFailure(ipc::AgentFatal::kImport,
                       "import " + module + " from " + module_dir + ": " + error.type + ": " + error.message);
  }
  PyRef handle(PyObject_GetAttrString(imported.get(), function.c_str()));
  if (!handle || !PyCallable_Check(handle.get())) {
    if (!handle) take_exception();
    throw AgentFailure(ipc::AgentFatal::kImport, module + "." + function + " is missing or not callable");
  }
  objects_->handle = std::move(handle);
  objects_->module = std::move(imported);
}

bool PythonRuntime::reseed(std::span<const std::uint8_t> entropy) noexcept {
  const Objects& o = *objects_;
  PyRef seed(PyBytes_FromStringAndSize(reinterpret_cast<const char*>(entropy.data()),
                                       static_cast<Py_ssize_t>(entropy.size())));
  PyRef done(seed ? PyObject_CallFunctionObjArgs(o.reseed.get(), seed.get(), o.module.get(), nullptr) : nullptr);
  if (done) return true;
  const PythonError error = take_exception();
  log(LogLevel::kError, "after restore: reseed / on_restore() raised %s: %s\n%s", error.type.c_str(),
      error.message.c_str(), error.traceback.c_str());
  return false;
}

HandlerOutcome PythonRuntime::handle(std::span<const std::uint8_t> request, std::span<std::uint8_t> out) noexcept {
  const Objects& o = *objects_;
  auto fail = [&](ipc::ResponseStatus status, ipc::ErrorType type, const PythonError& error, std::uint64_t duration) {
    const std::uint32_t length = write_error_json(
        out, type, error.message,
        {ErrorField::str("exception", error.type), ErrorField::str("traceback", error.traceback)}, duration);
    return HandlerOutcome{status, length, duration};
  };
  // Decode first: the response may overwrite the request bytes (same slot).
  PyRef text(PyUnicode_DecodeUTF8(reinterpret_cast<const char*>(request.data()),
                                  static_cast<Py_ssize_t>(request.size()), "strict"));
  if (!text) return fail(ipc::ResponseStatus::kRejected, ipc::ErrorType::kBadRequest, take_exception(), 0);
  PyRef parsed(PyObject_CallOneArg(o.json_loads.get(), text.get()));
  if (!parsed) return fail(ipc::ResponseStatus::kRejected, ipc::ErrorType::kBadRequest, take_exception(), 0);
  text.reset();

  const std::uint64_t start = now_ns();
  PyRef result(PyObject_CallOneArg(o.handle.get(), parsed.get()));
  const std::uint64_t duration = now_ns() - start;
  if (!result) {
    const PythonError error = take_exception();
    if (error.system_exit) {  // the function asked its runtime to end: it does, the reaper answers
      std::fflush(stdout);
      std::fflush(stderr);
      ::_exit(error.exit_status);
    }
    return fail(ipc::ResponseStatus::kHandlerError, ipc::ErrorType::kFunctionError, error, duration);
  }

  PyRef args(PyTuple_Pack(1, result.get()));
  PyRef dumped(args ? PyObject_Call(o.json_dumps.get(), args.get(), o.dumps_kwargs.get()) : nullptr);
  if (!dumped) return fail(ipc::ResponseStatus::kHandlerError, ipc::ErrorType::kFunctionError, take_exception(), duration);
  Py_ssize_t size = 0;
  const char* body = PyUnicode_AsUTF8AndSize(dumped.get(), &size);
  if (body == nullptr) {
    return fail(ipc::ResponseStatus::kHandlerError, ipc::ErrorType::kFunctionError, take_exception(), duration);
  }

  static constexpr std::string_view kPrefix = "{\"ok\":true,\"result\":";
  char suffix[48];
  const int suffix_len = std::snprintf(suffix, sizeof(suffix), ",\"duration_ns\":%llu}",
                                       static_cast<unsigned long long>(duration));
  const std::size_t total = kPrefix.size() + static_cast<std::size_t>(size) + static_cast<std::size_t>(suffix_len);
  if (total > out.size()) {
    const std::uint32_t length = write_error_json(
        out, ipc::ErrorType::kResponseTooLarge,
        "response of " + std::to_string(total) + " bytes exceeds the " + std::to_string(out.size()) + "-byte limit",
        {ErrorField::num("size", static_cast<std::int64_t>(total)),
         ErrorField::num("limit", static_cast<std::int64_t>(out.size()))},
        duration);
    return HandlerOutcome{ipc::ResponseStatus::kHandlerError, length, duration};
  }
  std::memcpy(out.data(), kPrefix.data(), kPrefix.size());
  std::memcpy(out.data() + kPrefix.size(), body, static_cast<std::size_t>(size));
  std::memcpy(out.data() + kPrefix.size() + size, suffix, static_cast<std::size_t>(suffix_len));
  return HandlerOutcome{ipc::ResponseStatus::kOk, static_cast<std::uint32_t>(total), duration};
}

}  // namespace snapfaas::guest
