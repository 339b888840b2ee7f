// Test helper: the bytes of a minimal x86-64 ELF executable (header + program header table whose
// first entry is one PT_LOAD), zero-filled to `size`. Tests add further headers or data themselves.
#pragma once

#include <elf.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace snapfaas::runner::test {

struct LoadSegment {
  std::uint64_t offset;  ///< file offset of the segment's bytes
  std::uint64_t paddr;
  std::uint64_t filesz;
  std::uint64_t memsz;
};

inline std::vector<std::uint8_t> make_elf_bytes(std::size_t size, std::uint64_t entry, const LoadSegment& load,
                                                Elf64_Half phnum = 1) {
  std::vector<std::uint8_t> out(size, 0);
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_type = ET_EXEC;
  eh.e_machine = EM_X86_64;
  eh.e_entry = entry;
  eh.e_phoff = sizeof eh;
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = phnum;
  std::memcpy(out.data(), &eh, sizeof eh);
  Elf64_Phdr ph{};
  ph.p_type = PT_LOAD;
  ph.p_offset = load.offset;
  ph.p_paddr = load.paddr;
  ph.p_filesz = load.filesz;
  ph.p_memsz = load.memsz;
  std::memcpy(out.data() + sizeof eh, &ph, sizeof ph);
  return out;
}

}  // namespace snapfaas::runner::test
