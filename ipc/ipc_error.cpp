// Names of IpcError and ControlResult values.
#include "ipc/ipc_error.h"

#include "ipc/channel_layout.h"

namespace snapfaas::ipc {

const char* to_string(IpcError error) noexcept {
  switch (error) {
    case IpcError::kRingEmpty: return "ring empty";
    case IpcError::kRingFull: return "ring full";
    case IpcError::kTimedOut: return "wait timed out";
    case IpcError::kNoFreeSlot: return "no free payload slot";
    case IpcError::kPayloadTooLarge: return "payload larger than a slot";
    case IpcError::kRegionTooSmall: return "shared region smaller than its header says";
    case IpcError::kBadMagic: return "bad header magic";
    case IpcError::kBadVersion: return "unsupported header version";
    case IpcError::kBadHeader: return "header sizes out of range";
    case IpcError::kLayoutMismatch: return "header offsets differ from the computed layout";
    case IpcError::kIndexBackwards: return "peer moved a ring index backwards";
    case IpcError::kIndexAhead: return "peer ring index more than capacity ahead";
    case IpcError::kSlotOutOfRange: return "slot index out of range";
    case IpcError::kLengthOutOfRange: return "payload length out of range";
    case IpcError::kSlotNotInFlight: return "response names a slot that is not in flight";
    case IpcError::kRequestIdMismatch: return "response request id differs from the request";
    case IpcError::kBadControlOp: return "unknown control opcode";
    case IpcError::kEntryOutOfRange: return "stats entry index out of range";
    case IpcError::kBusy: return "entry stayed busy (writer mid-update)";
  }
  return "unknown ipc error";
}

const char* control_result_text(std::int32_t status) noexcept {
  if (status < 0 || status > kMaxControlResult) return "unknown control result";
  switch (static_cast<ControlResult>(status)) {
    case ControlResult::kOk: return "ok";
    case ControlResult::kBootedAtSpawn: return "booted at spawn";
    case ControlResult::kUnsupported: return "not served by this runner";
    case ControlResult::kBusy: return "busy";
    case ControlResult::kBadFunction: return "no such function in the runner's table";
    case ControlResult::kNoSnapshot: return "function has no snapshot (or a layer is missing)";
    case ControlResult::kLoadFailed: return "restore failed";
    case ControlResult::kDumpFailed: return "working set not recorded";
  }
  return "unknown control result";
}

}  // namespace snapfaas::ipc
