// Compiled with -ffreestanding -nostdlib -fno-exceptions -fno-rtti (see CMakeLists.txt): proves
// ipc/channel_layout.h, ipc/error_type.h and ipc/adaptive_spin.h are usable by ring-3 test guests and the guest agent.
#include "ipc/adaptive_spin.h"
#include "ipc/channel_layout.h"
#include "ipc/error_type.h"
#include "ipc/restore_record.h"

namespace {

using namespace snapfaas::ipc;

// How a guest consumer pops one request (memory orders as documented in the header).
[[maybe_unused]] bool guest_pop(unsigned char* region, RequestDesc* out) {
  // SAFETY: the region base is the channel window; offsets come from its validated header.
  auto* header = reinterpret_cast<ChannelHeader*>(region);
  auto* ring = reinterpret_cast<RingIndices*>(region + header->request_offset);
  auto* entries = reinterpret_cast<RequestDesc*>(region + header->request_offset + kRingEntriesOffset);
  const std::uint64_t head = __atomic_load_n(&ring->head, __ATOMIC_RELAXED);  // own index
  const std::uint64_t tail = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);  // pairs with producer's release
  if (tail == head || tail - head > header->ring_capacity) return false;
  *out = entries[head & (header->ring_capacity - 1)];
  __atomic_store_n(&ring->head, head + 1, __ATOMIC_RELEASE);  // pairs with producer's acquire of head
  return true;
}

static_assert(compute_channel_layout(kDefaultSlotSize, kDefaultSlotCount).ring_capacity == 64);
[[maybe_unused]] bool guest_read_record(const unsigned char* header_page, RestoreRecord* out) {
  return read_restore_record(header_page, out) == RestoreRecordCheck::kOk;
}

static_assert(guest_may_report(ErrorType::kOutOfMemory) && !guest_may_report(ErrorType::kTimeout));

// How a ring-3 guest spins (TSC cycles as the unit) before WAIT.
[[maybe_unused]] bool guest_spin(AdaptiveSpin& policy, const volatile std::uint64_t* tail, std::uint64_t head) {
  auto tsc = [] { return __builtin_ia32_rdtsc(); };
  return adaptive_poll(policy, [&] { return *tail != head; }, tsc, [] {});
}

}  // namespace
