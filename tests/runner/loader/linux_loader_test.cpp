// Linux boot protocol: e820 map, zero page, command line, page tables, MP table, register state.
#include "runner/loader/linux_loader.h"

#include <asm/bootparam.h>
#include <doctest/doctest.h>
#include <elf.h>

#include <array>

#include <cstring>
#include <numeric>

#include "common/error.h"
#include "runner/loader/mptable.h"
#include "tests/runner/loader/elf_builder.h"

using namespace snapfaas::runner;

namespace {
constexpr std::uint64_t kMiB = 1ull << 20, kGiB = 1ull << 30;

std::uint8_t sum(const GuestMemory& mem, std::uint64_t gpa, std::size_t len) {
  std::vector<std::uint8_t> b(len);
  REQUIRE(mem.read(gpa, b));
  return static_cast<std::uint8_t>(std::accumulate(b.begin(), b.end(), 0u));
}

// A tiny ELF "kernel": one 16-byte segment at 16 MiB, entry at its start.
ElfImage tiny_kernel() {
  std::vector<std::uint8_t> b = test::make_elf_bytes(0x200, 0x1000000, {0x100, 0x1000000, 16, 0x1000});
  return ElfImage::parse(std::move(b), "tiny");
}
}  // namespace

TEST_CASE("e820: low RAM stops at the EBDA, the MMIO gap and extra ranges are reserved") {
  const auto small = build_e820(ram_ranges(128 * kMiB), {});
  REQUIRE(small.size() == 3);
  CHECK(small[0] == E820Entry{0, 0x9fc00, 1});
  CHECK(small[1] == E820Entry{0x100000, 128 * kMiB - 0x100000, 1});
  CHECK(small[2] == E820Entry{3 * kGiB, kGiB, 2});

  const auto big = build_e820(ram_ranges(5 * kGiB), {{0x200000000ull, 0x100000}});
  REQUIRE(big.size() == 5);
  CHECK(big[1] == E820Entry{0x100000, 3 * kGiB - 0x100000, 1});
  CHECK(big[2] == E820Entry{3 * kGiB, kGiB, 2});
  CHECK(big[3] == E820Entry{4 * kGiB, 2 * kGiB, 1});
  CHECK(big[4] == E820Entry{0x200000000ull, 0x100000, 2});
}

TEST_CASE("load_linux writes zero page, command line, boot tables and MP table") {
  GuestMemory mem = create_guest_ram(64 * kMiB);
  LinuxBootConfig cfg;
  cfg.cmdline = "console=ttyS0 reboot=k";
  cfg.vcpu_count = 2;
  CHECK(load_linux(mem, tiny_kernel(), cfg) == 0x1000000u);

  const auto params = mem.read_obj<boot_params>(linux_boot::kZeroPage);
  REQUIRE(params.has_value());
  CHECK(params->hdr.boot_flag == 0xaa55);
  CHECK(params->hdr.header == 0x53726448u);
  CHECK(params->hdr.type_of_loader == 0xff);
  CHECK(params->hdr.cmd_line_ptr == linux_boot::kCmdline);
  CHECK(params->e820_entries == 3);
  CHECK(params->e820_table[1].addr == 0x100000u);
  CHECK(params->e820_table[1].size == 64 * kMiB - 0x100000);

  std::vector<std::uint8_t> cmd(cfg.cmdline.size() + 1);
  REQUIRE(mem.read(linux_boot::kCmdline, cmd));
  CHECK(std::string(reinterpret_cast<char*>(cmd.data())) == cfg.cmdline);

  CHECK(mem.read_obj<std::uint64_t>(linux_boot::kPml4) == (linux_boot::kPdpt | 3));
  CHECK(mem.read_obj<std::uint64_t>(linux_boot::kPd + 8 * 5) == ((5ull << 21) | 0x83));
  CHECK(mem.read_obj<std::uint64_t>(linux_boot::kGdtAddr + 8) == 0x00af9b000000ffffull);

  // MP floating pointer and table: signatures, checksums, one processor entry per vCPU.
  std::array<char, 4> sig{};
  REQUIRE(mem.read(kMptableStart, std::span(reinterpret_cast<std::uint8_t*>(sig.data()), 4)));
  CHECK(std::string(sig.data(), 4) == "_MP_");
  CHECK(sum(mem, kMptableStart, 16) == 0);
  const auto table = *mem.read_obj<std::uint32_t>(kMptableStart + 4);
  const auto length = *mem.read_obj<std::uint16_t>(table + 4);
  CHECK(sum(mem, table, length) == 0);
  CHECK(length == 44 + 2 * 20 + 8 + 8 + 24 * 8 + 2 * 8);
  CHECK(mem.read_obj<std::uint8_t>(table + 44) == 0);        // processor entry
  CHECK(mem.read_obj<std::uint8_t>(table + 44 + 3) == 3);    // enabled | BSP
  CHECK(mem.read_obj<std::uint8_t>(table + 64 + 1) == 1);    // APIC ID 1
  CHECK(mem.read_obj<std::uint8_t>(table + 64 + 3) == 1);    // enabled, not BSP
}

TEST_CASE("load_linux rejects memory too small, an overlong command line, bad vCPU counts") {
  LinuxBootConfig cfg;
  GuestMemory small = create_guest_ram(8 * kMiB);
  CHECK_THROWS_WITH_AS((void)load_linux(small, tiny_kernel(), cfg), doctest::Contains("does not fit in guest memory"),
                       snapfaas::common::Error);
  GuestMemory mem = create_guest_ram(32 * kMiB);
  cfg.cmdline.assign(4096, 'x');
  CHECK_THROWS_WITH_AS((void)load_linux(mem, tiny_kernel(), cfg), doctest::Contains("kernel command line"),
                       snapfaas::common::Error);
  CHECK_THROWS_AS(write_mptable(mem, 0), snapfaas::common::Error);
  CHECK_THROWS_AS(write_mptable(mem, kMptableMaxCpus + 1), snapfaas::common::Error);
}

TEST_CASE("BSP register state: 64-bit mode, zero page in RSI, LINT0/LINT1 modes") {
  const kvm_sregs s = linux_sregs(kvm_sregs{});
  CHECK(s.cs.l == 1);
  CHECK(s.cs.selector == 8);
  CHECK(s.ds.selector == 0x10);
  CHECK(s.tr.selector == 0x18);
  CHECK((s.efer & 0x500) == 0x500);
  CHECK((s.cr0 & 0x80000001) == 0x80000001);
  CHECK(s.cr3 == linux_boot::kPml4);
  const kvm_regs r = linux_regs(0x1000000);
  CHECK(r.rip == 0x1000000);
  CHECK(r.rsi == linux_boot::kZeroPage);
  CHECK(r.rflags == 2);
  const kvm_lapic_state l = linux_lapic(kvm_lapic_state{});
  std::uint32_t lint0 = 0, lint1 = 0;
  std::memcpy(&lint0, l.regs + 0x350, 4);
  std::memcpy(&lint1, l.regs + 0x360, 4);
  CHECK(((lint0 >> 8) & 7) == 7);
  CHECK(((lint1 >> 8) & 7) == 4);
}
