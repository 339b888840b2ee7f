// MmapRegion: RAII over mmap/munmap.
#include "runner/memory/mmap_region.h"

#include <sys/mman.h>

#include <utility>

#include "common/error.h"

namespace snapfaas::runner {

MmapRegion MmapRegion::anonymous(std::size_t size) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
  if (p == MAP_FAILED) throw common::sys_error("mmap anonymous guest memory");
  return MmapRegion(static_cast<std::uint8_t*>(p), size);
}

MmapRegion MmapRegion::anonymous_shared(std::size_t size) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw common::sys_error("mmap shared guest memory");
  return MmapRegion(static_cast<std::uint8_t*>(p), size);
}

MmapRegion MmapRegion::adopt(void* addr, std::size_t size) noexcept {
  return MmapRegion(static_cast<std::uint8_t*>(addr), size);
}

MmapRegion::MmapRegion(MmapRegion&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

MmapRegion& MmapRegion::operator=(MmapRegion&& other) noexcept {
  if (this != &other) {
    reset();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

MmapRegion::~MmapRegion() { reset(); }

void MmapRegion::reset() noexcept {
  if (data_ != nullptr) ::munmap(data_, size_);
  data_ = nullptr;
  size_ = 0;
}

}  // namespace snapfaas::runner
