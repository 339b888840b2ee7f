// MmapRegion: one owned host mapping (anonymous or file-backed), unmapped on destruction.
#pragma once

#include <cstddef>
#include <cstdint>

namespace snapfaas::runner {

/// Owns a host virtual mapping. Move-only; not thread-safe.
class MmapRegion {
 public:
  MmapRegion() noexcept = default;
  /// Anonymous private mapping of `size` bytes (MAP_NORESERVE). Throws common::Error on failure.
  static MmapRegion anonymous(std::size_t size);
  /// Anonymous shared mapping of `size` bytes (MAP_SHARED|MAP_NORESERVE): guest RAM. Throws common::Error.
  static MmapRegion anonymous_shared(std::size_t size);
  /// Adopts a mapping made elsewhere; it is munmap'ed on destruction.
  static MmapRegion adopt(void* addr, std::size_t size) noexcept;

  MmapRegion(const MmapRegion&) = delete;
  MmapRegion& operator=(const MmapRegion&) = delete;
  MmapRegion(MmapRegion&& other) noexcept;
  MmapRegion& operator=(MmapRegion&& other) noexcept;
  ~MmapRegion();

  [[nodiscard]] std::uint8_t* data() const noexcept { return data_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }

 private:
  MmapRegion(std::uint8_t* data, std::size_t size) noexcept : data_(data), size_(size) {}
  void reset() noexcept;

  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace snapfaas::runner
