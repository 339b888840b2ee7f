// CRC32C: hardware (SSE4.2) and table implementations of the Castagnoli polynomial 0x82F63B78.
#include "runner/snapshot/crc32c.h"

#include <array>
#include <cstring>

namespace snapfaas::runner::snapshot {

namespace {
constexpr std::uint32_t kPoly = 0x82f63b78u;

constexpr std::array<std::uint32_t, 256> make_table() {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1u) != 0 ? (c >> 1) ^ kPoly : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr auto kTable = make_table();

std::uint32_t crc_table(const std::uint8_t* p, std::size_t n, std::uint32_t c) noexcept {
  while (n-- > 0) c = kTable[(c ^ *p++) & 0xffu] ^ (c >> 8);
  return c;
}

__attribute__((target("sse4.2"))) std::uint32_t crc_hw(const std::uint8_t* p, std::size_t n,
                                                       std::uint32_t c) noexcept {
  std::uint64_t c64 = c;
  while (n >= 8) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    c64 = __builtin_ia32_crc32di(c64, v);
    p += 8;
    n -= 8;
  }
  auto c32 = static_cast<std::uint32_t>(c64);
  while (n-- > 0) c32 = __builtin_ia32_crc32qi(c32, *p++);
  return c32;
}

bool have_sse42() noexcept {
  static const bool have = __builtin_cpu_supports("sse4.2") != 0;
  return have;
}
}  // namespace

std::uint32_t crc32c(std::span<const std::uint8_t> data, std::uint32_t crc) noexcept {
  const std::uint32_t c = ~crc;
  const std::uint32_t r = have_sse42() ? crc_hw(data.data(), data.size(), c) : crc_table(data.data(), data.size(), c);
  return ~r;
}

}  // namespace snapfaas::runner::snapshot
