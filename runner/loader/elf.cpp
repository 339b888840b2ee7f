// ElfImage: ELF64 validation and PT_LOAD copy into guest memory.
#include "runner/loader/elf.h"

#include <elf.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>

#include "common/error.h"

namespace snapfaas::runner {

namespace {
// A PT_NOTE larger than this is not one this VMM looks for (the ring-3 note is 24 bytes; a vmlinux
// has a few KiB of notes): it is skipped, never read into memory.
constexpr std::uint64_t kMaxNoteBytes = 64 * 1024;

std::string hex(std::uint64_t v) {
  std::ostringstream s;
  s << "0x" << std::hex << v;
  return s.str();
}

bool in_file(std::uint64_t size, std::uint64_t offset, std::uint64_t len) {
  return offset <= size && len <= size - offset;
}

template <typename T, typename ReadAt>
T read_obj(const ReadAt& read_at, std::uint64_t offset) {
  T value;
  read_at(offset, std::span(reinterpret_cast<std::uint8_t*>(&value), sizeof value));
  return value;
}

// pread until `out` is full; false on an error or end of file.
bool pread_all(int fd, std::uint64_t offset, std::span<std::uint8_t> out) noexcept {
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) errno = EIO;  // the file is shorter than its headers said (it changed under us)
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}
}  // namespace

ElfImage ElfImage::read(const std::string& path) {
  common::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw common::sys_error("ELF " + path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw common::sys_error("stat ELF " + path);
  const auto size = static_cast<std::uint64_t>(st.st_size);
  const int raw = fd.get();
  auto read_at = [&](std::uint64_t offset, std::span<std::uint8_t> out) {
    if (!pread_all(raw, offset, out)) throw common::sys_error("read ELF " + path);
  };
  ElfImage image = parse_headers(size, read_at, path);
  image.fd_ = std::move(fd);
  return image;
}

ElfImage ElfImage::parse(std::vector<std::uint8_t> bytes, const std::string& what) {
  const std::vector<std::uint8_t>& b = bytes;
  auto read_at = [&b](std::uint64_t offset, std::span<std::uint8_t> out) {
    std::memcpy(out.data(), b.data() + offset, out.size());  // bounds checked by parse_headers
  };
  ElfImage image = parse_headers(bytes.size(), read_at, what);
  image.bytes_ = std::move(bytes);
  return image;
}

template <typename ReadAt>
ElfImage ElfImage::parse_headers(std::uint64_t size, const ReadAt& read_at, const std::string& what) {
  auto fail = [&](const std::string& why) { return common::Error("ELF " + what + ": " + why); };
  if (size < sizeof(Elf64_Ehdr)) throw fail("file too small for an ELF header");
  const auto eh = read_obj<Elf64_Ehdr>(read_at, 0);
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) throw fail("not an ELF file (bad magic)");
  if (eh.e_ident[EI_CLASS] != ELFCLASS64) throw fail("not a 64-bit ELF");
  if (eh.e_ident[EI_DATA] != ELFDATA2LSB) throw fail("not little-endian");
  if (eh.e_machine != EM_X86_64) throw fail("machine " + std::to_string(eh.e_machine) + " is not x86-64");
  if (eh.e_type != ET_EXEC) throw fail("not a static executable (e_type " + std::to_string(eh.e_type) + ")");
  if (eh.e_phentsize != sizeof(Elf64_Phdr)) throw fail("bad program header size");
  if (eh.e_phnum == 0) throw fail("no program headers");
  if (!in_file(size, eh.e_phoff, std::uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr))) {
    throw fail("program headers lie outside the file");
  }

  ElfImage image;
  image.what_ = what;
  image.entry_ = eh.e_entry;
  for (std::uint16_t i = 0; i < eh.e_phnum; ++i) {
    const auto ph = read_obj<Elf64_Phdr>(read_at, eh.e_phoff + std::uint64_t{i} * sizeof(Elf64_Phdr));
    if (ph.p_type != PT_LOAD && ph.p_type != PT_NOTE) continue;
    if (!in_file(size, ph.p_offset, ph.p_filesz)) {
      throw fail("segment " + std::to_string(i) + " lies outside the file");
    }
    if (ph.p_type == PT_NOTE) {
      if (ph.p_filesz > kMaxNoteBytes) continue;  // not one of ours: never read
      std::vector<std::uint8_t> note(ph.p_filesz);
      read_at(ph.p_offset, note);
      image.notes_.push_back(std::move(note));
      continue;
    }
    if (ph.p_memsz == 0) continue;  // empty PT_LOAD (e.g. no data): nothing to place
    if (ph.p_filesz > ph.p_memsz) throw fail("segment " + std::to_string(i) + " has filesz > memsz");
    if (ph.p_paddr + ph.p_memsz < ph.p_paddr) throw fail("segment " + std::to_string(i) + " wraps");
    image.segments_.push_back(ElfSegment{ph.p_paddr, ph.p_offset, ph.p_filesz, ph.p_memsz});
  }
  if (image.segments_.empty()) throw fail("no PT_LOAD segment");
  return image;
}

void ElfImage::read_at(std::uint64_t offset, std::span<std::uint8_t> out) const {
  if (!fd_) {
    std::memcpy(out.data(), bytes_.data() + offset, out.size());  // validated in parse_headers
    return;
  }
  if (!pread_all(fd_.get(), offset, out)) throw common::sys_error("read ELF " + what_ + " segment");
}

std::uint64_t ElfImage::end() const noexcept {
  std::uint64_t end = 0;
  for (const ElfSegment& s : segments_) end = std::max(end, s.paddr + s.mem_size);
  return end;
}

bool ElfImage::has_note(const std::string& name, std::uint32_t type) const noexcept {
  for (const std::vector<std::uint8_t>& note : notes_) {
    std::uint64_t off = 0;
    const std::uint64_t end = note.size();
    while (off + sizeof(Elf64_Nhdr) <= end) {
      Elf64_Nhdr nh;
      std::memcpy(&nh, note.data() + off, sizeof nh);
      off += sizeof(Elf64_Nhdr);
      const std::uint64_t name_len = (std::uint64_t{nh.n_namesz} + 3) & ~3ull;
      const std::uint64_t desc_len = (std::uint64_t{nh.n_descsz} + 3) & ~3ull;
      if (name_len > end - off) break;
      // n_namesz includes the terminating NUL.
      if (nh.n_type == type && nh.n_namesz == name.size() + 1 &&
          std::memcmp(note.data() + off, name.data(), name.size()) == 0) {
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
    read_at(s.file_offset, dst->first(s.file_size));
    std::memset(dst->data() + s.file_size, 0, s.mem_size - s.file_size);
  }
}

}  // namespace snapfaas::runner
