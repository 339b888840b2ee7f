// CountingInterrupt: a fake guest interrupt line that counts trigger() calls.
#pragma once

#include <atomic>

#include "runner/devices/interrupt.h"

namespace snapfaas::runner::test {

struct CountingInterrupt : Interrupt {
  void trigger() noexcept override { count.fetch_add(1, std::memory_order_relaxed); }
  [[nodiscard]] int get() const noexcept { return count.load(std::memory_order_relaxed); }
  std::atomic<int> count{0};
};

}  // namespace snapfaas::runner::test
