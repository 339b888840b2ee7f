// Linux 64-bit boot protocol: zero page, e820, command line, boot page tables and GDT.
#include "runner/loader/linux_loader.h"

#include <optional>

#include <asm/bootparam.h>

#include <algorithm>
#include <cstring>

#include "common/error.h"
#include "runner/loader/mptable.h"

namespace snapfaas::runner {

namespace {
constexpr std::uint32_t kE820Ram = 1;
constexpr std::uint32_t kE820Reserved = 2;
constexpr std::uint16_t kBootFlag = 0xaa55;
constexpr std::uint32_t kHdrMagic = 0x53726448;  // "HdrS"
constexpr std::uint8_t kLoaderUndefined = 0xff;
constexpr std::uint32_t kKernelAlignment = 0x1000000;

// GDT flags as Firecracker's gdt.rs writes them: access byte + flags nibble.
constexpr std::uint16_t kGdtCode64 = 0xa09b, kGdtData = 0xc093, kGdtTss = 0x808b;

constexpr std::uint64_t gdt_entry(std::uint16_t flags, std::uint32_t base, std::uint32_t limit) {
  return ((std::uint64_t{base} & 0xff000000) << 32) | ((std::uint64_t{base} & 0x00ffffff) << 16) |
         (std::uint64_t{limit} & 0xffff) | (((std::uint64_t{limit} & 0xf0000) >> 16) << 48) |
         ((std::uint64_t{flags} & 0xf0ff) << 40);
}
constexpr std::uint64_t kGdt[] = {0, gdt_entry(kGdtCode64, 0, 0xfffff), gdt_entry(kGdtData, 0, 0xfffff),
                                  gdt_entry(kGdtTss, 0, 0xfffff)};

kvm_segment segment_from_gdt(std::uint64_t e, std::uint16_t index) {
  kvm_segment s{};
  s.base = ((e >> 16) & 0xffffff) | (((e >> 56) & 0xff) << 24);
  std::uint32_t limit = static_cast<std::uint32_t>((e & 0xffff) | ((e >> 32) & 0xf0000));
  s.g = (e >> 55) & 1;
  if (s.g) limit = (limit << 12) | 0xfff;
  s.limit = limit;
  s.selector = static_cast<std::uint16_t>(index * 8);
  s.type = (e >> 40) & 0xf;
  s.s = (e >> 44) & 1;
  s.dpl = (e >> 45) & 3;
  s.present = (e >> 47) & 1;
  s.avl = (e >> 52) & 1;
  s.l = (e >> 53) & 1;
  s.db = (e >> 54) & 1;
  s.unusable = s.present ? 0 : 1;
  return s;
}

constexpr std::uint64_t kCr0Pe = 1, kCr0Pg = 1ull << 31, kCr0Nw = 1ull << 29, kCr0Cd = 1ull << 30, kCr4Pae = 1u << 5;
constexpr std::uint64_t kEferLme = 1u << 8, kEferLma = 1u << 10;
constexpr std::uint32_t kApicLvtLint0 = 0x350, kApicLvtLint1 = 0x360;
constexpr std::uint32_t kApicModeNmi = 4, kApicModeExtInt = 7;

void write_or_throw(const GuestMemory& memory, std::uint64_t gpa, std::span<const std::uint8_t> bytes,
                    const char* what) {
  if (!memory.write(gpa, bytes)) throw common::Error(std::string("Linux boot: ") + what + " does not fit in guest memory");
}
}  // namespace

std::vector<E820Entry> build_e820(const std::vector<RamRange>& ram, const std::vector<ReservedRange>& reserved) {
  std::vector<E820Entry> map;
  for (const RamRange& r : ram) {
    if (r.gpa == 0) {
      map.push_back({0, std::min(r.size, linux_boot::kEbdaStart), kE820Ram});
      if (r.end() > linux_boot::kHighMemStart) {
        map.push_back({linux_boot::kHighMemStart, r.end() - linux_boot::kHighMemStart, kE820Ram});
      }
    } else {
      map.push_back({r.gpa, r.size, kE820Ram});
    }
  }
  map.push_back({layout::kMmioGapStart, layout::kMmioGapEnd - layout::kMmioGapStart, kE820Reserved});
  for (const ReservedRange& r : reserved) map.push_back({r.gpa, r.size, kE820Reserved});
  std::sort(map.begin(), map.end(), [](const E820Entry& a, const E820Entry& b) { return a.addr < b.addr; });
  return map;
}

void rewrite_linux_cmdline(const GuestMemory& memory, const std::string& text) {
  if (text.size() + 1 > linux_boot::kCmdlineMax) {
    throw common::Error("kernel command line: " + std::to_string(text.size()) + " bytes, at most " +
                        std::to_string(linux_boot::kCmdlineMax - 1));
  }
  std::optional<boot_params> params = memory.read_obj<boot_params>(linux_boot::kZeroPage);
  if (!params) throw common::Error("Linux boot: zero page does not fit");
  params->hdr.cmdline_size = static_cast<std::uint32_t>(text.size());
  if (!memory.write_obj(linux_boot::kZeroPage, *params)) throw common::Error("Linux boot: zero page does not fit");
  std::vector<std::uint8_t> cmdline(text.begin(), text.end());
  cmdline.push_back(0);
  write_or_throw(memory, linux_boot::kCmdline, cmdline, "command line");
}

std::uint64_t load_linux(const GuestMemory& memory, const ElfImage& kernel, const LinuxBootConfig& config) {
  if (config.cmdline.size() + 1 > linux_boot::kCmdlineMax) {
    throw common::Error("kernel command line: " + std::to_string(config.cmdline.size()) +
                        " bytes, at most " + std::to_string(linux_boot::kCmdlineMax - 1));
  }
  kernel.load(memory);

  std::vector<RamRange> ram;
  for (const GuestRegion& r : memory.regions()) ram.push_back({r.gpa, r.mapping.size()});
  const auto e820 = build_e820(ram, config.reserved);

  boot_params params{};
  if (e820.size() > std::size(params.e820_table)) throw common::Error("Linux boot: too many e820 entries");
  params.hdr.type_of_loader = kLoaderUndefined;
  params.hdr.boot_flag = kBootFlag;
  params.hdr.header = kHdrMagic;
  params.hdr.kernel_alignment = kKernelAlignment;
  params.hdr.cmd_line_ptr = static_cast<std::uint32_t>(linux_boot::kCmdline);
  params.hdr.cmdline_size = static_cast<std::uint32_t>(config.cmdline.size());
  params.e820_entries = static_cast<std::uint8_t>(e820.size());
  for (std::size_t i = 0; i < e820.size(); ++i) {
    params.e820_table[i].addr = e820[i].addr;
    params.e820_table[i].size = e820[i].size;
    params.e820_table[i].type = e820[i].type;
  }
  if (!memory.write_obj(linux_boot::kZeroPage, params)) throw common::Error("Linux boot: zero page does not fit");

  std::vector<std::uint8_t> cmdline(config.cmdline.begin(), config.cmdline.end());
  cmdline.push_back(0);
  write_or_throw(memory, linux_boot::kCmdline, cmdline, "command line");
  write_mptable(memory, config.vcpu_count);

  // SAFETY: kGdt is an array of u64; we copy its bytes.
  write_or_throw(memory, linux_boot::kGdtAddr,
                 std::span(reinterpret_cast<const std::uint8_t*>(kGdt), sizeof(kGdt)), "GDT");
  const std::uint64_t idt = 0;
  bool ok = memory.write_obj(linux_boot::kIdtAddr, idt);
  // Identity-map the first 1 GiB with 2 MiB pages (enough for the kernel's early boot).
  ok = ok && memory.write_obj<std::uint64_t>(linux_boot::kPml4, linux_boot::kPdpt | 0x03);
  ok = ok && memory.write_obj<std::uint64_t>(linux_boot::kPdpt, linux_boot::kPd | 0x03);
  for (std::uint64_t i = 0; i < 512; ++i) ok = ok && memory.write_obj<std::uint64_t>(linux_boot::kPd + i * 8, (i << 21) | 0x83);
  if (!ok) throw common::Error("Linux boot: page tables do not fit in guest memory");
  return kernel.entry();
}

kvm_sregs linux_sregs(kvm_sregs s) {
  s.gdt.base = linux_boot::kGdtAddr;
  s.gdt.limit = sizeof(kGdt) - 1;
  s.idt.base = linux_boot::kIdtAddr;
  s.idt.limit = sizeof(std::uint64_t) - 1;
  s.cs = segment_from_gdt(kGdt[1], 1);
  s.ds = s.es = s.fs = s.gs = s.ss = segment_from_gdt(kGdt[2], 2);
  s.tr = segment_from_gdt(kGdt[3], 3);
  s.cr3 = linux_boot::kPml4;
  s.cr4 |= kCr4Pae;
  // KVM's reset CR0 has CD|NW (caches off, as after RESET); a 64-bit kernel entered directly must
  // find caching on (nested SVM under QEMU TCG never gets past the first instruction otherwise).
  s.cr0 = (s.cr0 & ~(kCr0Cd | kCr0Nw)) | kCr0Pe | kCr0Pg;
  s.efer |= kEferLme | kEferLma;
  return s;
}

kvm_regs linux_regs(std::uint64_t entry) {
  kvm_regs r{};
  r.rflags = 2;
  r.rip = entry;
  r.rsp = linux_boot::kBootStack;
  r.rbp = linux_boot::kBootStack;
  r.rsi = linux_boot::kZeroPage;
  return r;
}

kvm_fpu linux_fpu() {
  kvm_fpu f{};
  f.fcw = 0x37f;
  f.mxcsr = 0x1f80;
  return f;
}

kvm_lapic_state linux_lapic(kvm_lapic_state lapic) {
  auto set_mode = [&](std::uint32_t reg, std::uint32_t mode) {
    std::uint32_t v;
    std::memcpy(&v, lapic.regs + reg, 4);
    v = (v & ~0x700u) | (mode << 8);
    std::memcpy(lapic.regs + reg, &v, 4);
  };
  set_mode(kApicLvtLint0, kApicModeExtInt);
  set_mode(kApicLvtLint1, kApicModeNmi);
  return lapic;
}

}  // namespace snapfaas::runner
