// Ring-3 guest boot state.
#include "runner/loader/ring3_loader.h"

#include <algorithm>
#include <string>

#include "common/error.h"
#include "runner/ring3/ring3_abi.h"

namespace snapfaas::runner {

namespace {
constexpr std::uint64_t kPml4 = 0x1000;
constexpr std::uint64_t kPdpt = 0x2000;
constexpr std::uint64_t kFirstPd = 0x3000;
constexpr std::uint64_t kMaxPds = 64;  // 64 GiB of 2 MiB pages; PDs end at 0x43000
constexpr std::uint64_t kStackTop = 0x9f000;
constexpr std::uint64_t kStackSize = 0x4000;
constexpr std::uint32_t kMaxVcpus = 16;  // stacks end at 0x5f000, above the page tables

constexpr std::uint64_t kPresent = 1, kWritable = 2, kUser = 4, kHuge = 0x80;
constexpr std::uint64_t kGiB = 1ull << 30, kTwoMiB = 2ull << 20;

// x86 control bits (Intel SDM vol. 3, 2.5).
constexpr std::uint64_t kCr0Pe = 1, kCr0Mp = 2, kCr0Et = 1u << 4, kCr0Ne = 1u << 5, kCr0Wp = 1u << 16,
                        kCr0Pg = 1ull << 31;
constexpr std::uint64_t kCr4Pae = 1u << 5;
constexpr std::uint64_t kEferLme = 1u << 8, kEferLma = 1u << 10;
constexpr std::uint64_t kRflagsReserved = 2, kRflagsIopl3 = 3u << 12;
}  // namespace

void load_ring3_guest(const GuestMemory& memory, const ElfImage& elf) {
  for (const ElfSegment& s : elf.segments()) {
    if (s.paddr < SNAPFAAS_RING3_MIN_LOAD) {
      throw common::Error("ring-3 guest: segment at " + std::to_string(s.paddr) +
                          " lies below the 1 MiB boot area");
    }
  }
  elf.load(memory);
  std::uint64_t ram_end = 0;
  for (const GuestRegion& r : memory.regions()) ram_end = std::max(ram_end, r.end());
  // Map at least the 32-bit MMIO gap so that the test MMIO window is reachable.
  const std::uint64_t mapped = std::max<std::uint64_t>(ram_end, 4 * kGiB);
  const std::uint64_t pds = (mapped + kGiB - 1) / kGiB;
  if (pds > kMaxPds) throw common::Error("ring-3 guest: RAM above 64 GiB is not supported");

  bool ok = memory.write_obj<std::uint64_t>(kPml4, kPdpt | kPresent | kWritable | kUser);
  for (std::uint64_t i = 0; i < pds; ++i) {
    const std::uint64_t pd = kFirstPd + i * 0x1000;
    ok = ok && memory.write_obj<std::uint64_t>(kPdpt + i * 8, pd | kPresent | kWritable | kUser);
    for (std::uint64_t j = 0; j < 512; ++j) {
      const std::uint64_t addr = i * kGiB + j * kTwoMiB;
      ok = ok && memory.write_obj<std::uint64_t>(pd + j * 8, addr | kPresent | kWritable | kUser | kHuge);
    }
  }
  if (!ok) throw common::Error("ring-3 guest: page tables do not fit in guest memory");
}

kvm_sregs ring3_sregs(kvm_sregs s) {
  kvm_segment code{};
  code.base = 0;
  code.limit = 0xffffffff;
  code.selector = (1 << 3) | 3;
  code.type = 11;  // execute/read, accessed
  code.present = 1;
  code.dpl = 3;
  code.s = 1;
  code.l = 1;
  code.g = 1;
  kvm_segment data = code;
  data.selector = (2 << 3) | 3;
  data.type = 3;  // read/write, accessed
  data.l = 0;
  s.cs = code;
  s.ds = s.es = s.fs = s.gs = s.ss = data;
  s.cr3 = kPml4;
  s.cr4 = kCr4Pae;
  s.cr0 = kCr0Pe | kCr0Mp | kCr0Et | kCr0Ne | kCr0Wp | kCr0Pg;
  s.efer = kEferLme | kEferLma;
  return s;
}

kvm_regs ring3_regs(std::uint64_t entry, std::uint64_t ram_bytes, std::uint32_t index, std::uint32_t count) {
  if (index >= kMaxVcpus) throw common::Error("ring-3 guest: at most 16 vCPUs");
  kvm_regs r{};
  r.rip = entry;
  r.rsp = kStackTop - std::uint64_t{index} * kStackSize;
  r.rflags = kRflagsReserved | kRflagsIopl3;
  r.rdi = ram_bytes;
  r.rsi = index;
  r.rdx = count;
  return r;
}

}  // namespace snapfaas::runner
