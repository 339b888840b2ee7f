// SupervisorChannel and RunnerChannel: slot bookkeeping, validation of ring entries, doorbells.
#include "ipc/channel.h"

#include <cstring>
#include <string>
#include <utility>

#include "common/error.h"

namespace snapfaas::ipc {

// Entries are copied byte-wise between processes.
static_assert(std::is_trivially_copyable_v<RequestDesc> && std::is_trivially_copyable_v<ResponseDesc>);
static_assert(std::is_trivially_copyable_v<ControlCommand> && std::is_trivially_copyable_v<ControlReply>);

// ---- SupervisorChannel ----

namespace {

ChannelLayout checked_layout(std::string_view name, const ChannelConfig& config) {
  if (!channel_params_valid(config.slot_size, config.slot_count)) {
    throw common::Error("channel " + std::string(name) + ": invalid config (slot_size " +
                        std::to_string(config.slot_size) + ", slot_count " + std::to_string(config.slot_count) +
                        ")");
  }
  return compute_channel_layout(config.slot_size, config.slot_count);
}

}  // namespace

SupervisorChannel SupervisorChannel::create(std::string_view name, ChannelConfig config) {
  const ChannelLayout layout = checked_layout(name, config);
  ShmObject shm = ShmObject::create(name, layout.total_size);
  Result<ChannelView> view = ChannelView::format(shm.data(), shm.size(), config.slot_size, config.slot_count);
  if (!view) throw common::Error("channel " + std::string(name) + ": format: " + to_string(view.error()));
  return SupervisorChannel(std::move(shm), *view);
}

SupervisorChannel SupervisorChannel::create_sealed(std::string_view label, ChannelConfig config,
                                                   std::optional<ShmOwner> owner) {
  const ChannelLayout layout = checked_layout(label, config);
  ShmObject shm = ShmObject::create_sealed(label, layout.total_size, owner);
  Result<ChannelView> view = ChannelView::format(shm.data(), shm.size(), config.slot_size, config.slot_count);
  if (!view) throw common::Error("channel " + std::string(label) + ": format: " + to_string(view.error()));
  return SupervisorChannel(std::move(shm), *view);
}

SupervisorChannel::SupervisorChannel(ShmObject shm, ChannelView view)
    : shm_(std::move(shm)),
      view_(view),
      requests_(view.request_ring()),
      responses_(view.response_ring()),
      control_(view.control_ring()),
      control_replies_(view.control_reply_ring()),
      runner_bell_(view.runner_doorbell()),
      supervisor_bell_(view.supervisor_doorbell()),
      state_(view.layout().slot_count, SlotState::kFree),
      request_ids_(view.layout().slot_count, 0) {
  free_.reserve(view.layout().slot_count);
  for (std::uint32_t i = view.layout().slot_count; i > 0; --i) free_.push_back(i - 1);  // pop_back → slot 0 first
}

Result<std::uint32_t> SupervisorChannel::acquire_slot() noexcept {
  if (free_.empty()) return IpcError::kNoFreeSlot;
  const std::uint32_t slot = free_.back();
  free_.pop_back();
  state_[slot] = SlotState::kAcquired;
  return slot;
}

Result<std::span<std::uint8_t>> SupervisorChannel::slot_bytes(std::uint32_t slot) noexcept {
  if (slot >= state_.size() || state_[slot] != SlotState::kAcquired) return IpcError::kSlotNotInFlight;
  return view_.slot(slot);
}

Status SupervisorChannel::send(std::uint64_t request_id, std::uint32_t slot, std::uint32_t length) noexcept {
  if (slot >= state_.size() || state_[slot] != SlotState::kAcquired) return IpcError::kSlotNotInFlight;
  if (length > view_.layout().slot_size) return IpcError::kPayloadTooLarge;
  if (Status s = requests_.try_push(RequestDesc{request_id, slot, length}); !s) return s;
  state_[slot] = SlotState::kInFlight;
  request_ids_[slot] = request_id;
  runner_bell_.ring();
  return {};
}

Result<std::uint32_t> SupervisorChannel::send_copy(std::uint64_t request_id,
                                                   std::span<const std::uint8_t> payload) noexcept {
  if (payload.size() > view_.layout().slot_size) return IpcError::kPayloadTooLarge;
  Result<std::uint32_t> slot = acquire_slot();
  if (!slot) return slot;
  Result<std::span<std::uint8_t>> bytes = view_.slot(*slot);
  if (!payload.empty()) std::memcpy(bytes->data(), payload.data(), payload.size());
  if (Status s = send(request_id, *slot, static_cast<std::uint32_t>(payload.size())); !s) {
    free_.push_back(*slot);
    state_[*slot] = SlotState::kFree;
    return s.error();
  }
  return slot;
}

Result<Response> SupervisorChannel::try_receive() noexcept {
  Result<ResponseDesc> desc = responses_.try_pop();
  if (!desc) return desc.error();
  if (desc->slot >= state_.size()) return IpcError::kSlotOutOfRange;
  if (state_[desc->slot] != SlotState::kInFlight) return IpcError::kSlotNotInFlight;
  if (request_ids_[desc->slot] != desc->request_id) return IpcError::kRequestIdMismatch;
  Result<std::span<std::uint8_t>> bytes = view_.payload(desc->slot, desc->length);
  if (!bytes) return bytes.error();
  state_[desc->slot] = SlotState::kAnswered;
  return Response{desc->request_id, desc->slot, desc->status, *bytes, desc->restore_generation};
}

Result<Response> SupervisorChannel::receive(const WaitOptions& options) noexcept {
  if (Status s = supervisor_bell_.wait([this] { return responses_.readable(); }, options); !s) return s.error();
  return try_receive();
}

Status SupervisorChannel::release(std::uint32_t slot) noexcept {
  if (slot >= state_.size() || (state_[slot] != SlotState::kAcquired && state_[slot] != SlotState::kAnswered)) {
    return IpcError::kSlotNotInFlight;
  }
  state_[slot] = SlotState::kFree;
  free_.push_back(slot);
  return {};
}

Status SupervisorChannel::send_control(const ControlCommand& command) noexcept {
  if (Status s = control_.try_push(command); !s) return s;
  runner_bell_.ring();
  return {};
}

Result<ControlReply> SupervisorChannel::try_control_reply() noexcept { return control_replies_.try_pop(); }

Result<ControlReply> SupervisorChannel::control_reply(const WaitOptions& options) noexcept {
  if (Status s = supervisor_bell_.wait([this] { return control_replies_.readable(); }, options); !s) {
    return s.error();
  }
  return try_control_reply();
}

// ---- RunnerChannel ----

RunnerChannel RunnerChannel::open(std::string_view name) {
  ShmObject shm = ShmObject::open(name, ShmObject::Access::kReadWrite);
  Result<ChannelView> view = ChannelView::attach(shm.data(), shm.size());
  if (!view) throw common::Error("channel " + std::string(name) + ": " + to_string(view.error()));
  return RunnerChannel(std::move(shm), *view);
}

RunnerChannel::RunnerChannel(ShmObject shm, ChannelView view)
    : shm_(std::move(shm)),
      view_(view),
      requests_(view.request_ring()),
      responses_(view.response_ring()),
      control_(view.control_ring()),
      control_replies_(view.control_reply_ring()),
      runner_bell_(view.runner_doorbell()),
      supervisor_bell_(view.supervisor_doorbell()) {}

Result<Request> RunnerChannel::try_receive() noexcept {
  Result<RequestDesc> desc = requests_.try_pop();
  if (!desc) return desc.error();
  Result<std::span<std::uint8_t>> slot = view_.slot(desc->slot);
  if (!slot) return slot.error();
  if (desc->length > slot->size()) return IpcError::kLengthOutOfRange;
  return Request{desc->request_id, desc->slot, slot->first(desc->length), *slot};
}

Status RunnerChannel::respond(std::uint64_t request_id, std::uint32_t slot, std::uint32_t length,
                              ResponseStatus status) noexcept {
  if (slot >= view_.layout().slot_count) return IpcError::kSlotOutOfRange;
  if (length > view_.layout().slot_size) return IpcError::kPayloadTooLarge;
  if (Status s = responses_.try_push(ResponseDesc{request_id, slot, length, static_cast<std::uint32_t>(status), 0});
      !s) {
    return s;
  }
  supervisor_bell_.ring();
  return {};
}

Result<ControlCommand> RunnerChannel::try_control() noexcept {
  Result<ControlCommand> command = control_.try_pop();
  if (command && (command->op == 0 || command->op > kMaxControlOp)) return IpcError::kBadControlOp;
  return command;
}

Status RunnerChannel::reply_control(const ControlReply& reply) noexcept {
  if (Status s = control_replies_.try_push(reply); !s) return s;
  supervisor_bell_.ring();
  return {};
}

Status RunnerChannel::wait(const WaitOptions& options) noexcept {
  return runner_bell_.wait([this] { return requests_.readable() || control_.readable(); }, options);
}

}  // namespace snapfaas::ipc
