// HandlerOutcome: what a runtime (CPython, Node.js) reports about one request it answered in
// place in its slot; RingServer pushes it as the ResponseDesc. Response payloads: the runtimes'
// headers (python_runtime.h, guest/node/agent.js) and error_json.h.
#pragma once

#include <cstdint>

#include "ipc/channel_layout.h"

namespace snapfaas::guest {

/// Result of one call: the response was written to out[0, length).
struct HandlerOutcome {
  ipc::ResponseStatus status = ipc::ResponseStatus::kOk;
  std::uint32_t length = 0;
  std::uint64_t duration_ns = 0;
};

}  // namespace snapfaas::guest
