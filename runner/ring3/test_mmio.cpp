// TestMmio: pattern reads, recorded writes.
#include "runner/ring3/test_mmio.h"

#include <algorithm>
#include <cstring>

#include "runner/ring3/ring3_abi.h"

namespace snapfaas::runner {

void TestMmio::read(std::uint64_t offset, std::span<std::uint8_t> data) noexcept {
  std::uint64_t v = 0;
  if (offset == SNAPFAAS_MMIO_LAST_WRITE) {
    // acquire pairs with the release store in write().
    v = last_.load(std::memory_order_acquire);
  } else if (offset < SNAPFAAS_MMIO_LAST_WRITE) {
    v = SNAPFAAS_MMIO_PATTERN(offset);
  } else {
    v = ~0ull;
  }
  std::memcpy(data.data(), &v, std::min(data.size(), sizeof v));
}

void TestMmio::write(std::uint64_t, std::span<const std::uint8_t> data) noexcept {
  std::uint64_t v = 0;
  std::memcpy(&v, data.data(), std::min(data.size(), sizeof v));
  last_.store(v, std::memory_order_release);
  writes_.fetch_add(1, std::memory_order_release);
}

}  // namespace snapfaas::runner
