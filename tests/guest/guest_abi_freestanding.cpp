// Compiled with -ffreestanding -nostdlib -fno-exceptions -fno-rtti (see CMakeLists.txt): proves
// ipc/guest_abi.h is usable by ring-3 test guests.
#include "ipc/guest_abi.h"

namespace {
using namespace snapfaas::ipc;
// How a ring-3 guest parks on WAIT and reads its window base.
[[maybe_unused]] unsigned guest_wait() {
  auto* header = reinterpret_cast<volatile ChannelHeader*>(kWindowGpa);  // SAFETY: identity-mapped window
  (void)header->slot_count;
  return port_in32(kPortWait);
}
static_assert(channel_to_window_offset(compute_channel_layout(kDefaultSlotSize, kDefaultSlotCount),
                                       compute_channel_layout(kDefaultSlotSize, kDefaultSlotCount).slots_offset) ==
              3 * kPageSize);
}  // namespace
