// ElfImage: a validated, statically linked x86-64 ELF executable (a vmlinux or a ring-3 test guest)
// and the copy of its PT_LOAD segments into guest memory.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/unique_fd.h"
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

/// A parsed ELF file. parse() validates every header field it uses. An image read() from a file
/// holds only its headers and notes, and the open file: load() reads the segments straight into
/// guest memory (one copy, no file-sized buffer, nothing read when nothing is loaded — a restore).
/// Move-only.
class ElfImage {
 public:
  /// Reads and validates `path`'s headers: ELF magic, 64-bit, little-endian, EM_X86_64, ET_EXEC,
  /// program headers and PT_LOAD bounds inside the file. Throws common::Error("ELF PATH: ...").
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
  /// segment when it does not fit in guest memory (e.g. memory too small), or when the file
  /// cannot be read (it changed under us).
  void load(const GuestMemory& memory) const;

 private:
  ElfImage() = default;
  /// Validates the headers of a `size`-byte file whose bytes `read_at` copies out.
  template <typename ReadAt>
  static ElfImage parse_headers(std::uint64_t size, const ReadAt& read_at, const std::string& what);
  /// Fills `out` from file offset `offset` (bounds already checked). Throws on a short read.
  void read_at(std::uint64_t offset, std::span<std::uint8_t> out) const;

  std::string what_;
  common::UniqueFd fd_;              // read(): the file; parse(): none
  std::vector<std::uint8_t> bytes_;  // parse(): the whole file; read(): empty
  std::uint64_t entry_ = 0;
  std::vector<ElfSegment> segments_;
  std::vector<std::vector<std::uint8_t>> notes_;  // each PT_NOTE's bytes
};

}  // namespace snapfaas::runner
