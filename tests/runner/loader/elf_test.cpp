// ElfImage: validation of every header field it relies on; segment placement in guest memory.
#include "runner/loader/elf.h"

#include <doctest/doctest.h>
#include <elf.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "common/error.h"
#include "tests/runner/loader/elf_builder.h"

using namespace snapfaas::runner;

namespace {
// A minimal ELF: header, one PT_LOAD of 16 bytes at paddr 0x1000 (memsz 32), optional PT_NOTE.
std::vector<std::uint8_t> make_elf(bool with_note = false) {
  const std::size_t phnum = with_note ? 2 : 1;
  const std::size_t data_off = sizeof(Elf64_Ehdr) + phnum * sizeof(Elf64_Phdr);
  std::vector<std::uint8_t> out = test::make_elf_bytes(data_off + 16 + 32, 0x1004, {data_off, 0x1000, 16, 32},
                                                       static_cast<Elf64_Half>(phnum));
  for (int i = 0; i < 16; ++i) out[data_off + i] = static_cast<std::uint8_t>(i + 1);
  if (with_note) {
    Elf64_Phdr note{};
    note.p_type = PT_NOTE;
    note.p_offset = data_off + 16;
    note.p_filesz = 12 + 12;
    std::memcpy(out.data() + sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr), &note, sizeof note);
    const std::uint32_t hdr[3] = {9, 0, 0x52333300};
    std::memcpy(out.data() + data_off + 16, hdr, sizeof hdr);
    std::memcpy(out.data() + data_off + 28, "SnapFaaS", 9);
  }
  return out;
}

std::string parse_error(std::vector<std::uint8_t> bytes) {
  try {
    (void)ElfImage::parse(std::move(bytes), "k");
  } catch (const snapfaas::common::Error& e) {
    return e.what();
  }
  return "";
}

template <typename T>
void poke(std::vector<std::uint8_t>& b, std::size_t off, T v) {
  std::memcpy(b.data() + off, &v, sizeof v);
}
}  // namespace

TEST_CASE("a valid ELF loads its segment and zeroes the BSS tail") {
  GuestMemory mem;
  mem.add_region(0, MmapRegion::anonymous(0x10000));
  REQUIRE(mem.write(0x1010, std::vector<std::uint8_t>(16, 0xee)));
  const ElfImage elf = ElfImage::parse(make_elf(), "k");
  CHECK(elf.entry() == 0x1004);
  CHECK(elf.end() == 0x1020);
  CHECK_FALSE(elf.has_note("SnapFaaS", 0x52333300));
  elf.load(mem);
  CHECK(mem.read_obj<std::uint8_t>(0x1000) == 1);
  CHECK(mem.read_obj<std::uint8_t>(0x100f) == 16);
  CHECK(mem.read_obj<std::uint64_t>(0x1010) == 0u);
  CHECK(mem.read_obj<std::uint64_t>(0x1018) == 0u);
}

TEST_CASE("the ring-3 note is found") {
  const ElfImage elf = ElfImage::parse(make_elf(true), "k");
  CHECK(elf.has_note("SnapFaaS", 0x52333300));
  CHECK_FALSE(elf.has_note("SnapFaaS", 1));
  CHECK_FALSE(elf.has_note("Other", 0x52333300));
}

TEST_CASE("corrupt ELF headers give clear errors") {
  CHECK(parse_error({1, 2, 3}) == "ELF k: file too small for an ELF header");
  auto b = make_elf();
  b[1] = 'X';
  CHECK(parse_error(b) == "ELF k: not an ELF file (bad magic)");
  b = make_elf();
  b[EI_CLASS] = ELFCLASS32;
  CHECK(parse_error(b) == "ELF k: not a 64-bit ELF");
  b = make_elf();
  poke<Elf64_Half>(b, offsetof(Elf64_Ehdr, e_machine), EM_AARCH64);
  CHECK(parse_error(b).find("is not x86-64") != std::string::npos);
  b = make_elf();
  poke<Elf64_Half>(b, offsetof(Elf64_Ehdr, e_type), ET_DYN);
  CHECK(parse_error(b).find("not a static executable") != std::string::npos);
  b = make_elf();
  poke<Elf64_Off>(b, offsetof(Elf64_Ehdr, e_phoff), 0xffffffffffffff00ull);
  CHECK(parse_error(b) == "ELF k: program headers lie outside the file");
  b = make_elf();
  poke<Elf64_Half>(b, offsetof(Elf64_Ehdr, e_phnum), 1000);
  CHECK(parse_error(b) == "ELF k: program headers lie outside the file");
  b = make_elf();
  poke<Elf64_Xword>(b, sizeof(Elf64_Ehdr) + offsetof(Elf64_Phdr, p_filesz), 1u << 20);
  CHECK(parse_error(b) == "ELF k: segment 0 lies outside the file");
  b = make_elf();
  poke<Elf64_Xword>(b, sizeof(Elf64_Ehdr) + offsetof(Elf64_Phdr, p_memsz), 8);
  CHECK(parse_error(b) == "ELF k: segment 0 has filesz > memsz");
  b = make_elf();
  poke<Elf64_Addr>(b, sizeof(Elf64_Ehdr) + offsetof(Elf64_Phdr, p_paddr), ~0ull - 4);
  CHECK(parse_error(b) == "ELF k: segment 0 wraps");
  b = make_elf();
  poke<Elf64_Word>(b, sizeof(Elf64_Ehdr) + offsetof(Elf64_Phdr, p_type), PT_DYNAMIC);
  CHECK(parse_error(b) == "ELF k: no PT_LOAD segment");
}

TEST_CASE("a segment outside guest memory is rejected before anything is written") {
  GuestMemory mem;
  mem.add_region(0, MmapRegion::anonymous(0x1010));
  const ElfImage elf = ElfImage::parse(make_elf(), "k");
  CHECK_THROWS_WITH_AS(elf.load(mem), doctest::Contains("does not fit in guest memory"), snapfaas::common::Error);
}

TEST_CASE("a missing file names the path and errno") {
  CHECK_THROWS_WITH_AS(ElfImage::read("/nonexistent/vmlinux"),
                       "ELF /nonexistent/vmlinux: No such file or directory", snapfaas::common::Error);
}

TEST_CASE("an ELF read from a file keeps only its headers and notes, and load() reads the segments from the file") {
  char path[] = "/tmp/snapfaas-elf-test-XXXXXX";
  const int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  const std::vector<std::uint8_t> bytes = make_elf(true);
  REQUIRE(::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  ::close(fd);
  const ElfImage elf = ElfImage::read(path);
  CHECK(elf.entry() == 0x1004);
  CHECK(elf.has_note("SnapFaaS", 0x52333300));
  GuestMemory mem;
  mem.add_region(0, MmapRegion::anonymous(0x10000));
  REQUIRE(mem.write(0x1010, std::vector<std::uint8_t>(16, 0xee)));
  elf.load(mem);
  CHECK(mem.read_obj<std::uint8_t>(0x1000) == 1);
  CHECK(mem.read_obj<std::uint8_t>(0x100f) == 16);
  CHECK(mem.read_obj<std::uint64_t>(0x1010) == 0u);
  // A file cut short after it was validated: load() fails with a clear error, never places garbage.
  REQUIRE(::truncate(path, static_cast<off_t>(sizeof(Elf64_Ehdr) + 2 * sizeof(Elf64_Phdr) + 4)) == 0);
  CHECK_THROWS_WITH_AS(elf.load(mem), doctest::Contains("read ELF"), snapfaas::common::Error);
  ::unlink(path);
}
