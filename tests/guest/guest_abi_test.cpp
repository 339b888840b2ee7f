// ipc/guest_abi.h: the window ↔ channel offset mapping and header validation both sides rely on.
#include <doctest/doctest.h>

#include <utility>

#include "ipc/guest_abi.h"

using namespace snapfaas::ipc;

TEST_CASE("window offsets map to channel offsets and back; the control rings are invisible") {
  const std::pair<std::uint32_t, std::uint32_t> params[] = {{4096, 1}, {8192, 8}, {65536, 64}, {4096, 1000}};
  for (const auto& [size, count] : params) {
    const ChannelLayout l = compute_channel_layout(size, count);
    const WindowLayout w = compute_window_layout(l);
    CHECK(w.size == kPageSize + l.total_size - l.request_offset);
    CHECK(w.request_ring == kWindowRingsOffset);
    CHECK(window_to_channel_offset(l, w.response_ring) == l.response_offset);
    CHECK(window_to_channel_offset(l, w.slots) == l.slots_offset);
    CHECK(window_to_channel_offset(l, w.size - 1) == l.total_size - 1);
    CHECK(window_to_channel_offset(l, w.size) == kNotInWindow);
    CHECK(window_to_channel_offset(l, kRunnerDoorbellOffset) == kRunnerDoorbellOffset);
    for (std::uint64_t c = l.control_offset; c < l.request_offset; c += 64) {
      CHECK(channel_to_window_offset(l, c) == kNotInWindow);
    }
    for (std::uint64_t wo = 0; wo < w.size; wo += 4096 + 64) {
      const std::uint64_t c = window_to_channel_offset(l, wo);
      REQUIRE(c != kNotInWindow);
      CHECK((c < kPageSize || c >= l.request_offset));
      CHECK(channel_to_window_offset(l, c) == wo);
    }
  }
}

TEST_CASE("check_window_header accepts a real header and names each defect") {
  const ChannelLayout l = compute_channel_layout(8192, 8);
  WindowLayout out{};
  const ChannelHeader good = make_channel_header(l);
  CHECK(check_window_header(good, window_size(l), &out) == WindowCheck::kOk);
  CHECK(out.slots == compute_window_layout(l).slots);
  CHECK(check_window_header(good, window_size(l) - 1, &out) == WindowCheck::kTooSmall);

  ChannelHeader h = good;
  h.magic ^= 1;
  CHECK(check_window_header(h, kWindowMaxSize, &out) == WindowCheck::kBadMagic);
  h = good;
  h.version = 99;
  CHECK(check_window_header(h, kWindowMaxSize, &out) == WindowCheck::kBadVersion);
  h = good;
  h.slot_size = 1000;
  CHECK(check_window_header(h, kWindowMaxSize, &out) == WindowCheck::kBadParams);
  h = good;
  h.slots_offset += kPageSize;
  CHECK(check_window_header(h, kWindowMaxSize, &out) == WindowCheck::kMismatch);
  h = good;
  h.request_offset = 0;  // would expose the control rings
  CHECK(check_window_header(h, kWindowMaxSize, &out) == WindowCheck::kMismatch);

  const ChannelLayout huge = compute_channel_layout(kMaxSlotSize, 64);  // 1 GiB of slots
  CHECK(check_window_header(make_channel_header(huge), ~0ULL, &out) == WindowCheck::kTooLarge);
}

TEST_CASE("ports are distinct, 4-byte spaced and inside the reserved range") {
  const std::uint16_t ports[] = {kPortWait, kPortResponseReady, kPortSnapshotPoint, kPortAgentFatal};
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(ports[i] == kPortFirst + 4 * i);
    CHECK(ports[i] + 4 <= kPortFirst + kPortCount);
  }
  CHECK(kWindowGpa % kPageSize == 0);
  CHECK(kWindowGpa + kWindowMaxSize <= 0xD0000000ULL);
}
