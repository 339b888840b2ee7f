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
};

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
  PyRef handle;
};

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
  return runtime;
}

PythonRuntime::~PythonRuntime() {
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
}

HandlerOutcome PythonRuntime::handle(std::span<const std::uint8_t> request, std::span<std::uint8_t> out) noexcept {
  const Objects& o = *objects_;
  auto fail = [&](ipc::ResponseStatus status, const PythonError& error, std::uint64_t duration) {
    return HandlerOutcome{status, write_error_json(out, error.type, error.message, duration), duration};
  };
  // Decode first: the response may overwrite the request bytes (same slot).
  PyRef text(PyUnicode_DecodeUTF8(reinterpret_cast<const char*>(request.data()),
                                  static_cast<Py_ssize_t>(request.size()), "strict"));
  if (!text) return fail(ipc::ResponseStatus::kRejected, take_exception(), 0);
  PyRef parsed(PyObject_CallOneArg(o.json_loads.get(), text.get()));
  if (!parsed) return fail(ipc::ResponseStatus::kRejected, take_exception(), 0);
  text.reset();

  const std::uint64_t start = now_ns();
  PyRef result(PyObject_CallOneArg(o.handle.get(), parsed.get()));
  const std::uint64_t duration = now_ns() - start;
  if (!result) return fail(ipc::ResponseStatus::kHandlerError, take_exception(), duration);

  PyRef args(PyTuple_Pack(1, result.get()));
  PyRef dumped(args ? PyObject_Call(o.json_dumps.get(), args.get(), o.dumps_kwargs.get()) : nullptr);
  if (!dumped) return fail(ipc::ResponseStatus::kHandlerError, take_exception(), duration);
  Py_ssize_t size = 0;
  const char* body = PyUnicode_AsUTF8AndSize(dumped.get(), &size);
  if (body == nullptr) return fail(ipc::ResponseStatus::kHandlerError, take_exception(), duration);

  static constexpr std::string_view kPrefix = "{\"ok\":true,\"result\":";
  char suffix[48];
  const int suffix_len = std::snprintf(suffix, sizeof(suffix), ",\"duration_ns\":%llu}",
                                       static_cast<unsigned long long>(duration));
  const std::size_t total = kPrefix.size() + static_cast<std::size_t>(size) + static_cast<std::size_t>(suffix_len);
  if (total > out.size()) {
    const PythonError too_large{"ResponseTooLarge", "response of " + std::to_string(total) +
                                                        " bytes exceeds the slot size of " +
                                                        std::to_string(out.size()) + " bytes"};
    return fail(ipc::ResponseStatus::kHandlerError, too_large, duration);
  }
  std::memcpy(out.data(), kPrefix.data(), kPrefix.size());
  std::memcpy(out.data() + kPrefix.size(), body, static_cast<std::size_t>(size));
  std::memcpy(out.data() + kPrefix.size() + size, suffix, static_cast<std::size_t>(suffix_len));
  return HandlerOutcome{ipc::ResponseStatus::kOk, static_cast<std::uint32_t>(total), duration};
}

}  // namespace snapfaas::guest
