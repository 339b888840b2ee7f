// ElfImage: ELF64 validation and PT_LOAD copy into guest memory.
#include "runner/loader/elf.h"

#include <elf.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

#include "common/error.h"

namespace snapfaas::runner {

namespace {
std::string hex(std::uint64_t v) {
  std::ostringstream s;
  s << "0x" << std::hex << v;
  return s.str();
}

template <typename T>
T read_at(const std::vector<std::uint8_t>& bytes, std::uint64_t offset) {
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

bool in_file(const std::vector<std::uint8_t>& bytes, std::uint64_t offset, std::uint64_t len) {
  return offset <= bytes.size() && len <= bytes.size() - offset;
}
}  // namespace

ElfImage ElfImage::read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw common::sys_error("ELF " + path);
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw common::sys_error("read ELF " + path);
  return parse(std::move(bytes), path);
}

ElfImage ElfImage::parse(std::vector<std::uint8_t> bytes, const std::string& what) {
  auto fail = [&](const std::string& why) { return common::Error("ELF " + what + ": " + why); };
  if (bytes.size() < sizeof(Elf64_Ehdr)) throw fail("file too small for an ELF header");
  const auto eh = read_at<Elf64_Ehdr>(bytes, 0);
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) throw fail("not an ELF file (bad magic)");
  if (eh.e_ident[EI_CLASS] != ELFCLASS64) throw fail("not a 64-bit ELF");
  if (eh.e_ident[EI_DATA] != ELFDATA2LSB) throw fail("not little-endian");
  if (eh.e_machine != EM_X86_64) throw fail("machine " + std::to_string(eh.e_machine) + " is not x86-64");
  if (eh.e_type != ET_EXEC) throw fail("not a static executable (e_type " + std::to_string(eh.e_type) + ")");
  if (eh.e_phentsize != sizeof(Elf64_Phdr)) throw fail("bad program header size");
  if (eh.e_phnum == 0) throw fail("no program headers");
  if (!in_file(bytes, eh.e_phoff, std::uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr))) {
    throw fail("program headers lie outside the file");
  }

  ElfImage image;
  image.what_ = what;
  image.entry_ = eh.e_entry;
  for (std::uint16_t i = 0; i < eh.e_phnum; ++i) {
    const auto ph = read_at<Elf64_Phdr>(bytes, eh.e_phoff + std::uint64_t{i} * sizeof(Elf64_Phdr));
    if (ph.p_type != PT_LOAD && ph.p_type != PT_NOTE) continue;
    if (!in_file(bytes, ph.p_offset, ph.p_filesz)) {
      throw fail("segment " + std::to_string(i) + " lies outside the file");
    }
    const ElfSegment seg{ph.p_paddr, ph.p_offset, ph.p_filesz, ph.p_memsz};
    if (ph.p_type == PT_NOTE) {
      image.notes_.push_back(seg);
      continue;
    }
    if (ph.p_memsz == 0) continue;  // empty PT_LOAD (e.g. no data): nothing to place
    if (ph.p_filesz > ph.p_memsz) throw fail("segment " + std::to_string(i) + " has filesz > memsz");
    if (ph.p_paddr + ph.p_memsz < ph.p_paddr) throw fail("segment " + std::to_string(i) + " wraps");
    image.segments_.push_back(seg);
  }
  if (image.segments_.empty()) throw fail("no PT_LOAD segment");
  image.bytes_ = std::move(bytes);
  return image;
}

std::uint64_t ElfImage::end() const noexcept {
  std::uint64_t end = 0;
  for (const ElfSegment& s : segments_) end = std::max(end, s.paddr + s.mem_size);
  return end;
}

bool ElfImage::has_note(const std::string& name, std::uint32_t type) const noexcept {
  for (const ElfSegment& n : notes_) {
    std::uint64_t off = n.file_offset;
    const std::uint64_t end = n.file_offset + n.file_size;
    while (off + sizeof(Elf64_Nhdr) <= end) {
      const auto nh = read_at<Elf64_Nhdr>(bytes_, off);
      off += sizeof(Elf64_Nhdr);
      const std::uint64_t name_len = (std::uint64_t{nh.n_namesz} + 3) & ~3ull;
      const std::uint64_t desc_len = (std::uint64_t{nh.n_descsz} + 3) & ~3ull;
      if (name_len > end - off) break;
      // n_namesz includes the terminating NUL.
      if (nh.n_type == type && nh.n_namesz == name.size() + 1 &&
          std::memcmp(bytes_.data() + off, name.data(), name.size()) == 0) {
        return true;
      }
      if (desc_len > end - off - name_len) break;
      off += name_len + desc_len;
    }
  }
  return false;
}

void ElfImage::load(const GuestMemory& memory) const {
  for (std::size_t i = 0; i < segments_.size(); ++i) {
    const ElfSegment& s = segments_[i];
    const auto dst = memory.slice(s.paddr, s.mem_size);
    if (!dst) {
      throw common::Error("ELF " + what_ + ": segment " + std::to_string(i) + " [" + hex(s.paddr) + ", " +
                          hex(s.paddr + s.mem_size) + ") does not fit in guest memory (memory too small?)");
    }
    std::memcpy(dst->data(), bytes_.data() + s.file_offset, s.file_size);
    std::memset(dst->data() + s.file_size, 0, s.mem_size - s.file_size);
  }
}

}  // namespace snapfaas::runner
