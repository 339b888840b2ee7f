// MacAddress: a 6-byte Ethernet address, parsed from and printed as "02:fc:00:00:00:05".
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace snapfaas::runner::virtio::net {

using MacAddress = std::array<std::uint8_t, 6>;

/// Parses six two-digit hex groups separated by ':' (case-insensitive); nullopt otherwise.
[[nodiscard]] std::optional<MacAddress> parse_mac(std::string_view text) noexcept;
/// Lower-case "aa:bb:cc:dd:ee:ff".
[[nodiscard]] std::string format_mac(const MacAddress& mac);

}  // namespace snapfaas::runner::virtio::net
