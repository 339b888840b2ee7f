// Request: parsing of one virtio-blk request (virtio 1.x §5.2.6) from a checked descriptor chain:
// a device-readable header, data buffers, and a device-writable status byte last.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "runner/devices/virtio/queue.h"
#include "runner/memory/guest_memory.h"

namespace snapfaas::runner::virtio::block {

inline constexpr std::uint64_t kSectorSize = 512;
inline constexpr std::uint32_t kIdBytes = 20;  // VIRTIO_BLK_ID_BYTES

/// Request types (§5.2.6).
inline constexpr std::uint32_t kTypeIn = 0;
inline constexpr std::uint32_t kTypeOut = 1;
inline constexpr std::uint32_t kTypeFlush = 4;
inline constexpr std::uint32_t kTypeGetId = 8;

/// Status byte values (§5.2.6).
inline constexpr std::uint8_t kStatusOk = 0;
inline constexpr std::uint8_t kStatusIoErr = 1;
inline constexpr std::uint8_t kStatusUnsupported = 2;

/// Why a chain is not a well-formed request.
enum class ParseError : std::uint8_t {
  kNone,
  kTooFewBuffers,       ///< fewer than header + status
  kHeaderNotReadable,   ///< first buffer device-writable
  kHeaderTooShort,      ///< first buffer under 16 bytes
  kHeaderUnreadable,    ///< header not in guest memory (should not happen after the walk)
  kStatusNotWritable,   ///< last buffer device-readable
  kStatusEmpty,         ///< last buffer of length 0
  kDataWrongDirection,  ///< IN data readable, OUT data writable, or GET_ID into readable memory
  kDataNotSectors,      ///< IN/OUT data length not a multiple of 512
  kDataTooLong,         ///< data length overflows 32 bits
};
[[nodiscard]] std::string_view to_string(ParseError e) noexcept;

/// A parsed request. `data` are the buffers between header and status, in order.
struct Request {
  std::uint32_t type = 0;
  std::uint64_t sector = 0;
  std::vector<Buffer> data;
  std::uint64_t data_len = 0;   ///< sum of data buffer lengths
  std::uint64_t status_gpa = 0; ///< where the status byte goes
};

/// Parses `chain` into `out` (reusing its vector). For an unknown type only the framing is
/// checked (the caller answers UNSUPP). When parsing fails after the status buffer was found valid,
/// `status_ok` is set so the caller can still answer IOERR there.
[[nodiscard]] ParseError parse_request(const GuestMemory& mem, const DescriptorChain& chain, Request& out,
                                       bool& status_ok) noexcept;

}  // namespace snapfaas::runner::virtio::block
