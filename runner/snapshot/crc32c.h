// CRC32C (Castagnoli): the checksum in every snapshot file header. SSE4.2 crc32 instruction when
// the CPU has it, a table otherwise; both give the same value.
#pragma once

#include <cstdint>
#include <span>

namespace snapfaas::runner::snapshot {

/// Continues a CRC32C over `data` (start with crc = 0). Pure; thread-safe.
[[nodiscard]] std::uint32_t crc32c(std::span<const std::uint8_t> data, std::uint32_t crc = 0) noexcept;

}  // namespace snapfaas::runner::snapshot
