// NativeAgent: the C++ half of the Node.js guest agent, one per process, owned by the N-API addon
// (guest/node/addon.cpp). It holds what the CPython agent holds — the ring window, the doorbell
// and the RingServer (guest/agent/) — and lends the JS loop (guest/node/agent.js) each request's
// slot as an external ArrayBuffer, so a payload is decoded from and the response encoded into
// the window directly. Single-threaded: only the JS main thread calls it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "guest/agent/agent_doorbell.h"
#include "guest/agent/restore_watcher.h"
#include "guest/agent/ring_server.h"
#include "guest/agent/window.h"
#include "ipc/error_type.h"

namespace snapfaas::guest::node {

struct NativeAgentOptions {
  WindowSource source;
  bool futex = false;          ///< host tests: futex doorbells, SIGTERM/SIGINT stop the loop
  AgentOptions server;
};

class NativeAgent {
 public:
  /// Takes port access (guest) or installs the stop handlers (futex), then maps and validates the
  /// window. Throws AgentFailure naming the step.
  explicit NativeAgent(const NativeAgentOptions& options);

  /// Reports a snapshot point; returns once the VM runs again (at once without --dump_dir; in a
  /// restored clone, after its restore). True when a restore record was applied then (the kernel
  /// CRNG and clock refreshed, RestoreWatcher): the JS loop then reseeds its generators.
  [[nodiscard]] bool snapshot_point(ipc::SnapshotPoint point) noexcept;

  /// Guest mode: maps the window anew (a restored VM serves another channel, whose layout may
  /// differ). Throws AgentFailure; refused (kWindowMap) once a slot was lent out.
  void remap();

  /// Next request (its slot index and payload length), or nullopt with *exit_code set: 0 on
  /// shutdown, kRingCorrupt (already reported) on a corrupt ring. *restored: a restore record was
  /// applied while parked in WAIT (reseed before handling).
  [[nodiscard]] std::optional<ServedRequest> next(int* exit_code, bool* restored) noexcept;

  /// Pushes the response the JS loop wrote to the current request's slot. False: ring corrupt
  /// (reported). Throws std::logic_error when no request is outstanding.
  [[nodiscard]] bool finish(const HandlerOutcome& outcome);

  /// Writes an error response (guest/agent/error_json.h) into the current request's slot and
  /// pushes it (see finish): function_error {exception, traceback} (kHandlerError), bad_request
  /// {exception} (kRejected), response_too_large {size, limit} (kHandlerError).
  [[nodiscard]] bool finish_function_error(const std::string& exception, const std::string& message,
                                           const std::string& traceback, std::uint64_t duration_ns);
  [[nodiscard]] bool finish_bad_request(const std::string& exception, const std::string& message);
  [[nodiscard]] bool finish_too_large(std::uint64_t size, std::uint64_t duration_ns);

  /// Slot `index` of the window (empty when out of range); marks the window as lent out.
  [[nodiscard]] std::span<std::uint8_t> lend_slot(std::uint32_t index) noexcept;
  [[nodiscard]] std::uint32_t slot_count() const noexcept { return window_->slot_count(); }

  /// Fresh bytes for the runtime's generators: the last applied restore record's entropy (when one
  /// came since the last call) mixed with fill_fresh_entropy (reseed.h).
  void fresh_entropy(std::span<std::uint8_t> out) noexcept;

  /// Reports a fatal error through the doorbell (the caller exits with `code` right after).
  void fatal(ipc::AgentFatal code) noexcept { doorbell_->fatal(code); }

  [[nodiscard]] const AgentStats& stats() const noexcept { return server_->stats(); }

 private:
  NativeAgentOptions options_;
  std::unique_ptr<AgentDoorbell> doorbell_;
  std::optional<Window> window_;
  std::optional<RingServer> server_;
  std::optional<ServedRequest> current_;
  bool lent_ = false;
  RestoreWatcher restore_;
  std::optional<ipc::RestoreRecord> record_;  ///< applied, its entropy not yet handed to JS
};

}  // namespace snapfaas::guest::node
