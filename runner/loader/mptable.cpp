// MP table construction (MP spec 1.4, chapter 4).
#include "runner/loader/mptable.h"

#include <cstring>
#include <string>
#include <vector>

#include "common/error.h"
#include "runner/memory/guest_layout.h"

namespace snapfaas::runner {

namespace {
#pragma pack(push, 1)
struct MpfIntel {  // floating pointer structure (MP spec 4.1)
  char signature[4];
  std::uint32_t physptr;
  std::uint8_t length;  // in 16-byte units
  std::uint8_t specification;
  std::uint8_t checksum;
  std::uint8_t feature[5];
};
struct MpcTable {  // configuration table header (4.2)
  char signature[4];
  std::uint16_t length;
  std::uint8_t spec;
  std::uint8_t checksum;
  char oem[8];
  char productid[12];
  std::uint32_t oemptr;
  std::uint16_t oemsize;
  std::uint16_t oemcount;
  std::uint32_t lapic;
  std::uint32_t reserved;
};
struct MpcCpu {  // processor entry (4.3.1)
  std::uint8_t type;
  std::uint8_t apicid;
  std::uint8_t apicver;
  std::uint8_t cpuflag;
  std::uint32_t cpufeature;
  std::uint32_t featureflag;
  std::uint32_t reserved[2];
};
struct MpcBus {  // bus entry (4.3.2)
  std::uint8_t type;
  std::uint8_t busid;
  char bustype[6];
};
struct MpcIoapic {  // I/O APIC entry (4.3.3)
  std::uint8_t type;
  std::uint8_t apicid;
  std::uint8_t apicver;
  std::uint8_t flags;
  std::uint32_t apicaddr;
};
struct MpcIntsrc {  // I/O and local interrupt assignment entries (4.3.4, 4.3.5)
  std::uint8_t type;
  std::uint8_t irqtype;
  std::uint16_t irqflag;
  std::uint8_t srcbus;
  std::uint8_t srcbusirq;
  std::uint8_t dstapic;
  std::uint8_t dstirq;
};
#pragma pack(pop)
static_assert(sizeof(MpfIntel) == 16 && sizeof(MpcTable) == 44 && sizeof(MpcCpu) == 20);
static_assert(sizeof(MpcBus) == 8 && sizeof(MpcIoapic) == 8 && sizeof(MpcIntsrc) == 8);

constexpr std::uint8_t kEntryProcessor = 0, kEntryBus = 1, kEntryIoapic = 2, kEntryIntsrc = 3,
                       kEntryLintsrc = 4;
constexpr std::uint8_t kIrqInt = 0, kIrqNmi = 1, kIrqExtInt = 3;
constexpr std::uint8_t kCpuEnabled = 1, kCpuBootProcessor = 2;
constexpr std::uint8_t kApicVersion = 0x14;
constexpr std::uint32_t kCpuStepping = 0x600;
constexpr std::uint32_t kCpuFeatureApic = 0x200, kCpuFeatureFpu = 0x001;
constexpr std::uint8_t kIoapicEnabled = 1;

std::uint8_t checksum(const std::uint8_t* p, std::size_t n) {
  std::uint8_t sum = 0;
  for (std::size_t i = 0; i < n; ++i) sum = static_cast<std::uint8_t>(sum + p[i]);
  return static_cast<std::uint8_t>(-sum);
}

template <typename T>
void append(std::vector<std::uint8_t>& out, const T& value) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(&value);
  out.insert(out.end(), p, p + sizeof(T));
}
}  // namespace

void write_mptable(const GuestMemory& memory, std::uint32_t vcpu_count) {
  if (vcpu_count == 0 || vcpu_count > kMptableMaxCpus) {
    throw common::Error("MP table: vcpu_count " + std::to_string(vcpu_count) + " out of range 1.." +
                        std::to_string(kMptableMaxCpus));
  }
  const std::uint8_t ioapic_id = static_cast<std::uint8_t>(vcpu_count + 1);

  std::vector<std::uint8_t> entries;
  for (std::uint32_t i = 0; i < vcpu_count; ++i) {
    MpcCpu cpu{};
    cpu.type = kEntryProcessor;
    cpu.apicid = static_cast<std::uint8_t>(i);
    cpu.apicver = kApicVersion;
    cpu.cpuflag = kCpuEnabled | (i == 0 ? kCpuBootProcessor : 0);
    cpu.cpufeature = kCpuStepping;
    cpu.featureflag = kCpuFeatureApic | kCpuFeatureFpu;
    append(entries, cpu);
  }
  MpcBus bus{};
  bus.type = kEntryBus;
  bus.busid = 0;
  std::memcpy(bus.bustype, "ISA   ", 6);
  append(entries, bus);
  MpcIoapic ioapic{};
  ioapic.type = kEntryIoapic;
  ioapic.apicid = ioapic_id;
  ioapic.apicver = kApicVersion;
  ioapic.flags = kIoapicEnabled;
  ioapic.apicaddr = static_cast<std::uint32_t>(layout::kIoapicBase);
  append(entries, ioapic);
  for (std::uint32_t irq = 0; irq < kIoapicPins; ++irq) {  // ISA IRQ n → IOAPIC pin n
    MpcIntsrc src{};
    src.type = kEntryIntsrc;
    src.irqtype = kIrqInt;
    src.srcbus = 0;
    src.srcbusirq = static_cast<std::uint8_t>(irq);
    src.dstapic = ioapic_id;
    src.dstirq = static_cast<std::uint8_t>(irq);
    append(entries, src);
  }
  MpcIntsrc lint0{};  // LINT0: ExtINT from the PIC, to all LAPICs
  lint0.type = kEntryLintsrc;
  lint0.irqtype = kIrqExtInt;
  lint0.dstapic = 0xff;
  lint0.dstirq = 0;
  append(entries, lint0);
  MpcIntsrc lint1 = lint0;  // LINT1: NMI to all LAPICs
  lint1.irqtype = kIrqNmi;
  lint1.dstirq = 1;
  append(entries, lint1);

  const std::uint64_t table_addr = kMptableStart + sizeof(MpfIntel);
  MpcTable table{};
  std::memcpy(table.signature, "PCMP", 4);
  table.length = static_cast<std::uint16_t>(sizeof(MpcTable) + entries.size());
  table.spec = 4;
  std::memcpy(table.oem, "SNAPFAAS", 8);
  std::memcpy(table.productid, "FIRERUNNER  ", 12);
  table.oemcount = static_cast<std::uint16_t>(vcpu_count + 1 + 1 + kIoapicPins + 2);
  table.lapic = static_cast<std::uint32_t>(layout::kLapicBase);
  std::vector<std::uint8_t> blob;
  append(blob, table);
  blob.insert(blob.end(), entries.begin(), entries.end());
  blob[offsetof(MpcTable, checksum)] = checksum(blob.data(), blob.size());

  MpfIntel mpf{};
  std::memcpy(mpf.signature, "_MP_", 4);
  mpf.physptr = static_cast<std::uint32_t>(table_addr);
  mpf.length = 1;
  mpf.specification = 4;
  // SAFETY: MpfIntel is a packed POD; we checksum its bytes.
  mpf.checksum = checksum(reinterpret_cast<const std::uint8_t*>(&mpf), sizeof(mpf));

  if (kMptableStart + sizeof(MpfIntel) + blob.size() > 0xa0000 || !memory.write_obj(kMptableStart, mpf) ||
      !memory.write(table_addr, blob)) {
    throw common::Error("MP table: does not fit below 640 KiB in guest memory");
  }
}

}  // namespace snapfaas::runner
