// Ring-3 boot state: user page tables over RAM and the MMIO gap, CPL3 segments, IOPL=3.
#include "runner/loader/ring3_loader.h"

#include <doctest/doctest.h>
#include <elf.h>

#include <cstring>

#include "runner/memory/guest_layout.h"
#include "tests/runner/loader/elf_builder.h"

using namespace snapfaas::runner;

TEST_CASE("ring-3 registers and segments") {
  const kvm_regs r = ring3_regs(0x100000, 64 << 20, 1, 2);
  CHECK(r.rip == 0x100000);
  CHECK(((r.rflags >> 12) & 3) == 3);
  CHECK((r.rflags & (1u << 9)) == 0);  // interrupts off
  CHECK(r.rdi == (64u << 20));
  CHECK(r.rsi == 1);
  CHECK(r.rdx == 2);
  CHECK(r.rsp != ring3_regs(0x100000, 64 << 20, 0, 2).rsp);
  CHECK_THROWS((void)ring3_regs(0x100000, 64 << 20, 16, 17));
  const kvm_sregs s = ring3_sregs(kvm_sregs{});
  CHECK(s.cs.dpl == 3);
  CHECK((s.cs.selector & 3) == 3);
  CHECK(s.ss.dpl == 3);
  CHECK(s.cs.l == 1);
}

TEST_CASE("ring-3 page tables map RAM and the MMIO gap as user pages") {
  // Page tables only: an ELF at 1 MiB is exercised by the integration tests.
  GuestMemory mem = create_guest_ram(16 << 20);
  const std::vector<std::uint8_t> b = test::make_elf_bytes(0x200, 0, {0x100, 0x100000, 0x10, 0x10});
  load_ring3_guest(mem, ElfImage::parse(b, "g"));
  CHECK(mem.read_obj<std::uint64_t>(0x1000) == (0x2000u | 7));
  CHECK(mem.read_obj<std::uint64_t>(0x2000 + 3 * 8) == (0x6000u | 7));          // 4th GiB
  CHECK(mem.read_obj<std::uint64_t>(0x6000 + 256 * 8) == (0xe0000000u | 0x87));  // test MMIO window

  const std::vector<std::uint8_t> low = test::make_elf_bytes(0x200, 0, {0x100, 0x8000, 0x10, 0x10});
  // paddr inside the boot area: refused
  CHECK_THROWS_WITH(load_ring3_guest(mem, ElfImage::parse(low, "g")), doctest::Contains("below the 1 MiB"));
}
