// ElfImage: a validated, statically linked x86-64 ELF executable (a vmlinux or a ring-3 test guest)
// and the copy of its PT_LOAD segments into guest memory.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runner/memory/guest_memory.h"

namespace snapfaas::runner {

/// One PT_LOAD segment after validation: [offset, offset+file_size) lies inside the file and
/// file_size <= mem_size.
struct ElfSegment {
  std::uint64_t paddr = 0;
  std::uint64_t file_offset = 0;
  std::uint64_t file_size = 0;
  std::uint64_t mem_size = 0;
};

/// A parsed ELF file. Owns the file bytes; parse() validates every header field it uses.
class ElfImage {
 public:
  /// Reads and validates `path`: ELF magic, 64-bit, little-endian, EM_X86_64, ET_EXEC, program
  /// headers and PT_LOAD bounds inside the file. Throws common::Error("kernel ELF PATH: ...").
  static ElfImage read(const std::string& path);
  /// Same for bytes already in memory (`what` names the source in errors).
  static ElfImage parse(std::vector<std::uint8_t> bytes, const std::string& what);

  [[nodiscard]] std::uint64_t entry() const noexcept { return entry_; }
  [[nodiscard]] const std::vector<ElfSegment>& segments() const noexcept { return segments_; }
  /// Highest paddr + mem_size over all segments.
  [[nodiscard]] std::uint64_t end() const noexcept;
  /// True when a PT_NOTE holds a note named `name` with type `type`.
  [[nodiscard]] bool has_note(const std::string& name, std::uint32_t type) const noexcept;

  /// Copies each segment to its paddr and zeroes the BSS tail. Throws common::Error naming the
  /// segment when it does not fit in guest memory (e.g. memory too small).
  void load(const GuestMemory& memory) const;

 private:
  ElfImage() = default;
  std::string what_;
  std::vector<std::uint8_t> bytes_;
  std::uint64_t entry_ = 0;
  std::vector<ElfSegment> segments_;
  std::vector<ElfSegment> notes_;  // PT_NOTE ranges (file_offset/file_size)
};

}  // namespace snapfaas::runner
