// snapfaas_agent.node: the N-API addon the Node.js agent's JS loop (guest/node/agent.js) drives.
// N-API (node_api.h, ABI-stable, version 8) so one build loads in Debian's Node 18 in the guest and
// in the host's Node in tests. Every function runs on the JS main thread. Exported functions:
//   open({windowFile, windowOffset, channelRegion, futex, spinUs, verbose})   map the window
//   snapshotPoint(1|2) → restored (a restore record was applied), remap(), mountAppfs(device, dir, waitMs)
//   slotCount(), slotBuffer(i) → ArrayBuffer over slot i (external: the window's own bytes)
//   next() → {slot, length, restored} | {exit: code, restored};  finish(status, length, durationNs) → bool
//   functionError(exception, message, traceback, durationNs), badRequest(exception, message),
//   tooLarge(size, durationNs) → bool (error_json.h);  fatal(code)
//   freshEntropy(n) → Buffer (restore record ⊕ reseed.h's);  reseedOpenssl(buffer)
// Setup failures throw an Error whose `fatal` property is the AgentFatal code.
#define NAPI_VERSION 8
#include <node_api.h>

#include <cstdint>
#include <memory>
#include <string>

#include "guest/agent/agent_failure.h"
#include "guest/agent/agent_log.h"
#include "guest/agent/appfs.h"
#include "guest/node/native_agent.h"
#include "guest/node/reseed.h"

namespace snapfaas::guest::node {
namespace {

// The one agent of this process. Never destroyed: the window must stay mapped while JS may still
// hold slot buffers, i.e. until the process exits.
NativeAgent* g_agent = nullptr;

// Throws a JS Error (message, .fatal = code) unless one is pending; returns nullptr for the caller.
napi_value throw_fatal(napi_env env, ipc::AgentFatal code, const std::string& message) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) return nullptr;
  napi_value text, error, code_value;
  if (napi_create_string_utf8(env, message.c_str(), message.size(), &text) == napi_ok &&
      napi_create_error(env, nullptr, text, &error) == napi_ok &&
      napi_create_uint32(env, static_cast<std::uint32_t>(code), &code_value) == napi_ok &&
      napi_set_named_property(env, error, "fatal", code_value) == napi_ok) {
    napi_throw(env, error);
  }
  return nullptr;
}

napi_value usage(napi_env env, const char* what) { return throw_fatal(env, ipc::AgentFatal::kUsage, what); }

struct Args {
  napi_value argv[4] = {};
  std::size_t argc = 4;
};
bool get_args(napi_env env, napi_callback_info info, Args& args) {
  return napi_get_cb_info(env, info, &args.argc, args.argv, nullptr, nullptr) == napi_ok;
}

bool get_string(napi_env env, napi_value value, std::string& out) {
  std::size_t size = 0;
  if (napi_get_value_string_utf8(env, value, nullptr, 0, &size) != napi_ok) return false;
  out.resize(size);
  return napi_get_value_string_utf8(env, value, out.data(), size + 1, &size) == napi_ok;
}
bool get_u32(napi_env env, napi_value value, std::uint32_t& out) {
  return napi_get_value_uint32(env, value, &out) == napi_ok;
}
bool get_u64(napi_env env, napi_value value, std::uint64_t& out) {
  double d = 0;
  if (napi_get_value_double(env, value, &d) != napi_ok || !(d >= 0) || d > 1.8e19) return false;
  out = static_cast<std::uint64_t>(d);
  return true;
}
napi_value property(napi_env env, napi_value object, const char* name) {
  bool has = false;
  napi_value value = nullptr;
  if (napi_has_named_property(env, object, name, &has) != napi_ok || !has) return nullptr;
  if (napi_get_named_property(env, object, name, &value) != napi_ok) return nullptr;
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok || type == napi_undefined) return nullptr;
  return value;
}
bool truthy(napi_env env, napi_value value) {
  bool b = false;
  napi_value coerced;
  return value != nullptr && napi_coerce_to_bool(env, value, &coerced) == napi_ok &&
         napi_get_value_bool(env, coerced, &b) == napi_ok && b;
}
napi_value boolean(napi_env env, bool b) {
  napi_value v;
  napi_get_boolean(env, b, &v);
  return v;
}
napi_value undefined(napi_env env) {
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}
bool agent_ready(napi_env env) {
  if (g_agent != nullptr) return true;
  usage(env, "snapfaas agent: open() first");
  return false;
}

napi_value js_open(napi_env env, napi_callback_info info) {
  Args a;
  if (!get_args(env, info, a) || a.argc < 1) return usage(env, "open(options) needs an options object");
  if (g_agent != nullptr) return usage(env, "open() called twice");
  NativeAgentOptions options;
  napi_value v;
  if ((v = property(env, a.argv[0], "windowFile")) && !get_string(env, v, options.source.path)) {
    return usage(env, "windowFile must be a string");
  }
  if ((v = property(env, a.argv[0], "windowOffset")) && !get_u64(env, v, options.source.offset)) {
    return usage(env, "windowOffset must be a non-negative number");
  }
  options.source.channel_region = truthy(env, property(env, a.argv[0], "channelRegion"));
  options.futex = truthy(env, property(env, a.argv[0], "futex"));
  std::uint32_t spin_us = 50;
  if ((v = property(env, a.argv[0], "spinUs")) && !get_u32(env, v, spin_us)) return usage(env, "spinUs: a number");
  options.server.spin = std::chrono::microseconds(spin_us);
  if (truthy(env, property(env, a.argv[0], "verbose"))) log_threshold() = LogLevel::kDebug;
  try {
    g_agent = new NativeAgent(options);
  } catch (const AgentFailure& e) {
    return throw_fatal(env, e.code(), e.what());
  } catch (const std::exception& e) {
    return throw_fatal(env, ipc::AgentFatal::kWindowMap, e.what());
  }
  log(LogLevel::kDebug, "window %s+0x%llx: %u slots", options.source.path.c_str(),
      static_cast<unsigned long long>(options.source.offset), g_agent->slot_count());
  return undefined(env);
}

napi_value js_snapshot_point(napi_env env, napi_callback_info info) {
  Args a;
  std::uint32_t point = 0;
  if (!agent_ready(env) || !get_args(env, info, a) || a.argc < 1 || !get_u32(env, a.argv[0], point) ||
      (point != 1 && point != 2)) {
    return usage(env, "snapshotPoint(1|2)");
  }
  return boolean(env, g_agent->snapshot_point(static_cast<ipc::SnapshotPoint>(point)));
}

napi_value js_remap(napi_env env, napi_callback_info) {
  if (!agent_ready(env)) return nullptr;
  try {
    g_agent->remap();
  } catch (const AgentFailure& e) {
    return throw_fatal(env, e.code(), e.what());
  }
  return undefined(env);
}

napi_value js_mount(napi_env env, napi_callback_info info) {
  Args a;
  std::string device, dir;
  std::uint32_t wait_ms = 0;
  if (!get_args(env, info, a) || a.argc < 3 || !get_string(env, a.argv[0], device) ||
      !get_string(env, a.argv[1], dir) || !get_u32(env, a.argv[2], wait_ms)) {
    return usage(env, "mountAppfs(device, dir, waitMs)");
  }
  try {
    mount_appfs(device, dir, std::chrono::milliseconds(wait_ms));
  } catch (const AgentFailure& e) {
    return throw_fatal(env, e.code(), e.what());
  }
  return undefined(env);
}

napi_value js_slot_count(napi_env env, napi_callback_info) {
  if (!agent_ready(env)) return nullptr;
  napi_value v;
  napi_create_uint32(env, g_agent->slot_count(), &v);
  return v;
}

napi_value js_slot_buffer(napi_env env, napi_callback_info info) {
  Args a;
  std::uint32_t index = 0;
  if (!agent_ready(env) || !get_args(env, info, a) || a.argc < 1 || !get_u32(env, a.argv[0], index)) {
    return usage(env, "slotBuffer(index)");
  }
  const std::span<std::uint8_t> slot = g_agent->lend_slot(index);
  if (slot.empty()) return usage(env, "slotBuffer: index out of range");
  napi_value buffer;
  // No finalizer: the window stays mapped until the process exits (g_agent is never destroyed).
  if (napi_create_external_arraybuffer(env, slot.data(), slot.size(), nullptr, nullptr, &buffer) != napi_ok) {
    return throw_fatal(env, ipc::AgentFatal::kWindowMap, "napi_create_external_arraybuffer failed");
  }
  return buffer;
}

napi_value js_next(napi_env env, napi_callback_info) {
  if (!agent_ready(env)) return nullptr;
  int exit_code = 0;
  bool restored = false;
  const std::optional<ServedRequest> request = g_agent->next(&exit_code, &restored);
  napi_value result, a, b;
  napi_create_object(env, &result);
  napi_set_named_property(env, result, "restored", boolean(env, restored));
  if (request) {
    napi_create_uint32(env, request->desc.slot, &a);
    napi_create_uint32(env, request->desc.length, &b);
    napi_set_named_property(env, result, "slot", a);
    napi_set_named_property(env, result, "length", b);
  } else {
    napi_create_int32(env, exit_code, &a);
    napi_set_named_property(env, result, "exit", a);
  }
  return result;
}

bool get_status(napi_env env, napi_value value, ipc::ResponseStatus& status) {
  std::uint32_t raw = 0;
  if (!get_u32(env, value, raw)) return false;
  status = static_cast<ipc::ResponseStatus>(raw);
  return status == ipc::ResponseStatus::kOk || status == ipc::ResponseStatus::kHandlerError ||
         status == ipc::ResponseStatus::kRejected;
}

napi_value js_finish(napi_env env, napi_callback_info info) {
  Args a;
  HandlerOutcome outcome;
  if (!agent_ready(env) || !get_args(env, info, a) || a.argc < 3 || !get_status(env, a.argv[0], outcome.status) ||
      !get_u32(env, a.argv[1], outcome.length) || !get_u64(env, a.argv[2], outcome.duration_ns)) {
    return usage(env, "finish(status, length, durationNs)");
  }
  try {
    return boolean(env, g_agent->finish(outcome));
  } catch (const std::exception& e) {
    return usage(env, e.what());
  }
}

napi_value js_function_error(napi_env env, napi_callback_info info) {
  Args a;
  std::string exception, message, traceback;
  std::uint64_t duration = 0;
  if (!agent_ready(env) || !get_args(env, info, a) || a.argc < 4 || !get_string(env, a.argv[0], exception) ||
      !get_string(env, a.argv[1], message) || !get_string(env, a.argv[2], traceback) ||
      !get_u64(env, a.argv[3], duration)) {
    return usage(env, "functionError(exception, message, traceback, durationNs)");
  }
  try {
    return boolean(env, g_agent->finish_function_error(exception, message, traceback, duration));
  } catch (const std::exception& e) {
    return usage(env, e.what());
  }
}

napi_value js_bad_request(napi_env env, napi_callback_info info) {
  Args a;
  std::string exception, message;
  if (!agent_ready(env) || !get_args(env, info, a) || a.argc < 2 || !get_string(env, a.argv[0], exception) ||
      !get_string(env, a.argv[1], message)) {
    return usage(env, "badRequest(exception, message)");
  }
  try {
    return boolean(env, g_agent->finish_bad_request(exception, message));
  } catch (const std::exception& e) {
    return usage(env, e.what());
  }
}

napi_value js_too_large(napi_env env, napi_callback_info info) {
  Args a;
  std::uint64_t size = 0, duration = 0;
  if (!agent_ready(env) || !get_args(env, info, a) || a.argc < 2 || !get_u64(env, a.argv[0], size) ||
      !get_u64(env, a.argv[1], duration)) {
    return usage(env, "tooLarge(size, durationNs)");
  }
  try {
    return boolean(env, g_agent->finish_too_large(size, duration));
  } catch (const std::exception& e) {
    return usage(env, e.what());
  }
}

napi_value js_fatal(napi_env env, napi_callback_info info) {
  Args a;
  std::uint32_t code = 0;
  if (g_agent != nullptr && get_args(env, info, a) && a.argc >= 1 && get_u32(env, a.argv[0], code)) {
    g_agent->fatal(static_cast<ipc::AgentFatal>(code));
  }
  return undefined(env);
}

napi_value js_fresh_entropy(napi_env env, napi_callback_info info) {
  Args a;
  std::uint32_t n = 0;
  if (!get_args(env, info, a) || a.argc < 1 || !get_u32(env, a.argv[0], n) || n == 0 || n > 4096) {
    return usage(env, "freshEntropy(bytes 1..4096)");
  }
  void* data = nullptr;
  napi_value buffer;
  if (napi_create_buffer(env, n, &data, &buffer) != napi_ok) return usage(env, "freshEntropy: no buffer");
  const std::span<std::uint8_t> bytes{static_cast<std::uint8_t*>(data), n};
  if (g_agent != nullptr) {
    g_agent->fresh_entropy(bytes);
  } else {
    fill_fresh_entropy(bytes);
  }
  return buffer;
}

napi_value js_reseed_openssl(napi_env env, napi_callback_info info) {
  Args a;
  void* data = nullptr;
  std::size_t size = 0;
  if (!get_args(env, info, a) || a.argc < 1 || napi_get_buffer_info(env, a.argv[0], &data, &size) != napi_ok) {
    return usage(env, "reseedOpenssl(buffer)");
  }
  return boolean(env, reseed_openssl({static_cast<const std::uint8_t*>(data), size}));
}

napi_value init(napi_env env, napi_value exports) {
  const napi_property_descriptor functions[] = {
      {"open", nullptr, js_open, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"snapshotPoint", nullptr, js_snapshot_point, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"remap", nullptr, js_remap, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"mountAppfs", nullptr, js_mount, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"slotCount", nullptr, js_slot_count, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"slotBuffer", nullptr, js_slot_buffer, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"next", nullptr, js_next, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"finish", nullptr, js_finish, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"functionError", nullptr, js_function_error, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"badRequest", nullptr, js_bad_request, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"tooLarge", nullptr, js_too_large, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"fatal", nullptr, js_fatal, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"freshEntropy", nullptr, js_fresh_entropy, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"reseedOpenssl", nullptr, js_reseed_openssl, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  if (napi_define_properties(env, exports, sizeof(functions) / sizeof(functions[0]), functions) != napi_ok) {
    return nullptr;
  }
  return exports;
}

}  // namespace
}  // namespace snapfaas::guest::node

NAPI_MODULE(NODE_GYP_MODULE_NAME, snapfaas::guest::node::init)
