// IpcError and Result<T>: the error values of the ipc hot paths (ring push/pop, checked accessors,
// waits). C++20 has no std::expected, so Result<T> is a minimal value-or-error holder.
#pragma once

#include <cstdint>
#include <optional>
#include <type_traits>
#include <utility>

namespace snapfaas::ipc {

/// Why an ipc operation did not produce a value. Values from shared memory that fail a check map
/// to one of the "bad ..." errors; the peer that wrote them is then considered broken.
enum class IpcError : std::uint8_t {
  kRingEmpty,           ///< nothing to pop (not a failure)
  kRingFull,            ///< no room to push (not a failure)
  kTimedOut,            ///< a wait reached its deadline
  kNoFreeSlot,          ///< every payload slot is in flight
  kPayloadTooLarge,     ///< payload longer than a slot: rejected, never truncated
  kRegionTooSmall,      ///< mapping smaller than a header or than header.total_size
  kBadMagic,            ///< header magic mismatch
  kBadVersion,          ///< header version mismatch
  kBadHeader,           ///< header size / slot size / slot count out of the allowed range
  kLayoutMismatch,      ///< header offsets or capacities differ from the computed layout
  kIndexBackwards,      ///< peer moved its ring index backwards
  kIndexAhead,          ///< peer's ring index is beyond what is possible (more than capacity ahead)
  kSlotOutOfRange,      ///< slot index >= slot count
  kLengthOutOfRange,    ///< length > slot size
  kSlotNotInFlight,     ///< a response names a slot the supervisor did not hand out
  kRequestIdMismatch,   ///< a response's request id differs from the one sent in that slot
  kBadControlOp,        ///< control command opcode not known
  kEntryOutOfRange,     ///< stats entry index >= runner (or function) count
  kBusy,                ///< a seqlock writer kept the entry busy through every retry
};

/// Stable, human-readable name of an error ("ring index moved backwards", ...).
[[nodiscard]] const char* to_string(IpcError error) noexcept;
/// What a ControlReply::status says ("restore failed", ...); "unknown control result" outside the enum.
[[nodiscard]] const char* control_result_text(std::int32_t status) noexcept;

/// Holds a T or an IpcError (an error constructs no T). Never throws when T's moves do not.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) noexcept(std::is_nothrow_move_constructible_v<T>)  // NOLINT: implicit on purpose
      : value_(std::move(value)) {}
  Result(IpcError error) noexcept : error_(error) {}  // NOLINT: implicit on purpose

  [[nodiscard]] bool has_value() const noexcept { return value_.has_value(); }
  explicit operator bool() const noexcept { return value_.has_value(); }
  /// Precondition: has_value().
  [[nodiscard]] T& value() noexcept { return *value_; }
  [[nodiscard]] const T& value() const noexcept { return *value_; }
  T& operator*() noexcept { return *value_; }
  const T& operator*() const noexcept { return *value_; }
  T* operator->() noexcept { return &*value_; }
  const T* operator->() const noexcept { return &*value_; }
  /// Precondition: !has_value().
  [[nodiscard]] IpcError error() const noexcept { return error_; }

 private:
  std::optional<T> value_;
  IpcError error_{};
};

/// Success or an IpcError.
class [[nodiscard]] Status {
 public:
  Status() noexcept = default;
  Status(IpcError error) noexcept : error_(error), ok_(false) {}  // NOLINT: implicit on purpose
  [[nodiscard]] bool ok() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  [[nodiscard]] IpcError error() const noexcept { return error_; }

 private:
  IpcError error_{};
  bool ok_ = true;
};

}  // namespace snapfaas::ipc
