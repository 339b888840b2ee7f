// The two ends of a per-runner channel: SupervisorChannel (creates the region, allocates payload
// slots, sends requests and control commands) and RunnerChannel (receives them, answers in place).
// Message flow: acquire slot → write payload → send {id, slot, len} → consumer reads in place,
// writes the response into the same slot → {id, slot, len, status} → receive → release slot.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "ipc/channel_layout.h"
#include "ipc/channel_view.h"
#include "ipc/doorbell.h"
#include "ipc/ipc_error.h"
#include "ipc/ring.h"
#include "ipc/shm_object.h"

namespace snapfaas::ipc {

struct ChannelConfig {
  std::uint32_t slot_size = kDefaultSlotSize;    ///< bytes per payload slot (multiple of 4 KiB)
  std::uint32_t slot_count = kDefaultSlotCount;  ///< payload slots = maximum requests in flight
};

/// A validated response; `payload` stays valid (and the slot reserved) until release(slot).
struct Response {
  std::uint64_t request_id = 0;
  std::uint32_t slot = 0;
  std::uint32_t status = 0;  ///< ResponseStatus value as sent by the peer
  std::span<const std::uint8_t> payload;
  std::uint32_t restore_generation = 0;  ///< ResponseDesc::restore_generation as sent (untrusted)
};

/// A validated request: `payload` is the request bytes, `slot_bytes` the whole slot (response space).
struct Request {
  std::uint64_t request_id = 0;
  std::uint32_t slot = 0;
  std::span<const std::uint8_t> payload;
  std::span<std::uint8_t> slot_bytes;
};

/// Supervisor end: owns the shm object (and its name). Producer of requests and control commands,
/// consumer of responses and control replies. Single-threaded use.
class SupervisorChannel {
 public:
  /// Creates and formats the region as a named object (mode 0600). Throws common::Error (name
  /// exists, bad config, ...).
  [[nodiscard]] static SupervisorChannel create(std::string_view name, ChannelConfig config = {});
  /// Creates and formats the region as a sealed anonymous object (ShmObject::create_sealed: its
  /// size can never change, mode 0600, owned by `owner`); the runner gets it as an inherited
  /// descriptor (RunnerChannel::open("fd:N"), with N = shm().fd() in the child). What the
  /// supervisor gives its runners: no runner can open another's channel or make this process's
  /// mapping fault by truncating its own. Throws common::Error.
  [[nodiscard]] static SupervisorChannel create_sealed(std::string_view label, ChannelConfig config = {},
                                                       std::optional<ShmOwner> owner = std::nullopt);

  [[nodiscard]] const ShmObject& shm() const noexcept { return shm_; }
  [[nodiscard]] const ChannelLayout& layout() const noexcept { return view_.layout(); }

  /// Takes a free slot from the private free list; kNoFreeSlot when all are in use.
  [[nodiscard]] Result<std::uint32_t> acquire_slot() noexcept;
  /// Writable bytes of a slot this end acquired (kSlotNotInFlight otherwise).
  [[nodiscard]] Result<std::span<std::uint8_t>> slot_bytes(std::uint32_t slot) noexcept;
  /// Sends request `request_id` whose `length` bytes were written into acquired `slot`.
  [[nodiscard]] Status send(std::uint64_t request_id, std::uint32_t slot, std::uint32_t length) noexcept;
  /// acquire_slot + copy + send; kPayloadTooLarge (nothing sent) when payload exceeds a slot.
  [[nodiscard]] Result<std::uint32_t> send_copy(std::uint64_t request_id, std::span<const std::uint8_t> payload) noexcept;
  /// Pops one response and validates it (slot in flight, same request id, length <= slot size).
  [[nodiscard]] Result<Response> try_receive() noexcept;
  /// try_receive, waiting per `options` (kTimedOut at the deadline).
  [[nodiscard]] Result<Response> receive(const WaitOptions& options) noexcept;
  /// Returns an acquired or answered slot to the free list (kSlotNotInFlight for others).
  [[nodiscard]] Status release(std::uint32_t slot) noexcept;
  [[nodiscard]] std::size_t free_slots() const noexcept { return free_.size(); }

  [[nodiscard]] Status send_control(const ControlCommand& command) noexcept;
  [[nodiscard]] Result<ControlReply> try_control_reply() noexcept;
  [[nodiscard]] Result<ControlReply> control_reply(const WaitOptions& options) noexcept;

  /// True when try_receive() or try_control_reply() would not find its ring empty (an entry, or an
  /// index error to report). Judged against this end's private heads only. A wait_any predicate.
  [[nodiscard]] bool readable() const noexcept { return responses_.readable() || control_replies_.readable(); }
  /// The supervisor doorbell (rung by the runner after each response or control reply), to park
  /// on many channels at once with ipc::wait_any. Same thread as the rest of this object.
  [[nodiscard]] Doorbell& supervisor_doorbell() noexcept { return supervisor_bell_; }

 private:
  enum class SlotState : std::uint8_t { kFree, kAcquired, kInFlight, kAnswered };
  SupervisorChannel(ShmObject shm, ChannelView view);

  ShmObject shm_;
  ChannelView view_;
  RingProducer<RequestDesc> requests_;
  RingConsumer<ResponseDesc> responses_;
  RingProducer<ControlCommand> control_;
  RingConsumer<ControlReply> control_replies_;
  Doorbell runner_bell_;
  Doorbell supervisor_bell_;
  std::vector<std::uint32_t> free_;          // free slot indices (private: no shared allocator)
  std::vector<SlotState> state_;             // per slot
  std::vector<std::uint64_t> request_ids_;   // per slot: id of the request in flight
};

/// Runner end: opens the region by name (never owns it). Consumer of requests and control
/// commands, producer of responses and control replies. Single-threaded use.
class RunnerChannel {
 public:
  /// Opens and validates the region: `ref` "/name" (a named object) or "fd:N" (an inherited
  /// descriptor, ShmObject::open). Throws common::Error naming the object and the check.
  [[nodiscard]] static RunnerChannel open(std::string_view ref);

  [[nodiscard]] const ShmObject& shm() const noexcept { return shm_; }
  [[nodiscard]] const ChannelLayout& layout() const noexcept { return view_.layout(); }

  /// Pops one request; slot and length are checked against the layout.
  [[nodiscard]] Result<Request> try_receive() noexcept;
  /// Answers request `request_id` with the first `length` bytes of `slot`.
  [[nodiscard]] Status respond(std::uint64_t request_id, std::uint32_t slot, std::uint32_t length,
                               ResponseStatus status = ResponseStatus::kOk) noexcept;
  /// Pops one control command (opcode checked).
  [[nodiscard]] Result<ControlCommand> try_control() noexcept;
  [[nodiscard]] Status reply_control(const ControlReply& reply) noexcept;
  /// Waits until a request or a control command is readable (both ring the runner doorbell).
  [[nodiscard]] Status wait(const WaitOptions& options) noexcept;
  /// True when try_control() would not find the control ring empty (judged against this end's
  /// private head only). Same thread as try_control, or under the caller's lock around both.
  [[nodiscard]] bool control_readable() const noexcept { return control_.readable(); }
  /// A read-only observer of the request ring for a runner whose guest is that ring's consumer
  /// (the WAIT port, runner/window/): both indices are guest-written there, so it only counts
  /// entries, checked, and never reads one. One copy per thread.
  [[nodiscard]] RingObserver request_observer() const noexcept { return RingObserver(view_.request_ring()); }
  /// The same for the response ring, whose producer is the guest and consumer the supervisor:
  /// counts the responses pushed and not yet taken (runner/window/: has the guest answered yet?).
  [[nodiscard]] RingObserver response_observer() const noexcept { return RingObserver(view_.response_ring()); }
  /// The runner doorbell: a runner parks on it on behalf of a guest in WAIT (runner/window/).
  [[nodiscard]] Doorbell& runner_doorbell() noexcept { return runner_bell_; }
  /// The supervisor doorbell: the runner wakes it for a guest's RESPONSE_READY. Only its wake
  /// half (wake()/ring()) may be used, from any thread.
  [[nodiscard]] Doorbell& supervisor_doorbell() noexcept { return supervisor_bell_; }

 private:
  RunnerChannel(ShmObject shm, ChannelView view);

  ShmObject shm_;
  ChannelView view_;
  RingConsumer<RequestDesc> requests_;
  RingProducer<ResponseDesc> responses_;
  RingConsumer<ControlCommand> control_;
  RingProducer<ControlReply> control_replies_;
  Doorbell runner_bell_;
  Doorbell supervisor_bell_;
};

}  // namespace snapfaas::ipc
