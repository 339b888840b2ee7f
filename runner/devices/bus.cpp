// Bus: address-range dispatch for PIO and MMIO exits.
#include "runner/devices/bus.h"

#include <algorithm>
#include <string>

#include "common/error.h"

namespace snapfaas::runner {

void Bus::insert(std::shared_ptr<BusDevice> device, std::uint64_t base, std::uint64_t len) {
  if (len == 0 || base + len < base) throw common::Error("bus insert at " + std::to_string(base) + ": bad length");
  for (const Entry& e : entries_) {
    if (base < e.base + e.len && e.base < base + len) {
      throw common::Error("bus insert at " + std::to_string(base) + ": overlaps device at " +
                          std::to_string(e.base));
    }
  }
  entries_.push_back(Entry{base, len, std::move(device)});
  std::sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) { return a.base < b.base; });
}

void Bus::replace(std::shared_ptr<BusDevice> device, std::uint64_t base, std::uint64_t len) {
  for (Entry& e : entries_) {
    if (e.base == base && e.len == len) {
      e.device = std::move(device);
      return;
    }
  }
  insert(std::move(device), base, len);
}

const Bus::Entry* Bus::find(std::uint64_t addr, std::uint64_t len) const noexcept {
  auto it = std::upper_bound(entries_.begin(), entries_.end(), addr,
                             [](std::uint64_t a, const Entry& e) { return a < e.base; });
  if (it == entries_.begin()) return nullptr;
  const Entry& e = *std::prev(it);
  const std::uint64_t offset = addr - e.base;
  if (offset >= e.len || len > e.len - offset) return nullptr;
  return &e;
}

bool Bus::read(std::uint64_t addr, std::span<std::uint8_t> data) const noexcept {
  const Entry* e = find(addr, data.size());
  if (e == nullptr) return false;
  e->device->read(addr - e->base, data);
  return true;
}

bool Bus::write(std::uint64_t addr, std::span<const std::uint8_t> data) const noexcept {
  const Entry* e = find(addr, data.size());
  if (e == nullptr) return false;
  e->device->write(addr - e->base, data);
  return true;
}

}  // namespace snapfaas::runner
