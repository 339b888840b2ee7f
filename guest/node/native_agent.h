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
#include "guest/agent/ring_server.h"
#include "guest/agent/window.h"

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
  /// restored clone, after its restore).
  void snapshot_point(ipc::SnapshotPoint point) noexcept { doorbell_->snapshot_point(point); }

  /// Guest mode: maps the window anew (a restored VM serves another channel, whose layout may
  /// differ). Throws AgentFailure; refused (kWindowMap) once a slot was lent out.
  void remap();

  /// Next request (its slot index and payload length), or nullopt with *exit_code set: 0 on
  /// shutdown, kRingCorrupt (already reported) on a corrupt ring.
  [[nodiscard]] std::optional<ServedRequest> next(int* exit_code) noexcept;

  /// Pushes the response the JS loop wrote to the current request's slot. False: ring corrupt
  /// (reported). Throws std::logic_error when no request is outstanding.
  [[nodiscard]] bool finish(const HandlerOutcome& outcome);

  /// Writes an error response into the current request's slot and pushes it (see finish).
  [[nodiscard]] bool finish_error(ipc::ResponseStatus status, const std::string& type, const std::string& message,
                                  std::uint64_t duration_ns);

  /// Slot `index` of the window (empty when out of range); marks the window as lent out.
  [[nodiscard]] std::span<std::uint8_t> lend_slot(std::uint32_t index) noexcept;
  [[nodiscard]] std::uint32_t slot_count() const noexcept { return window_->slot_count(); }

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
};

}  // namespace snapfaas::guest::node
