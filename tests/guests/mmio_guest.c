/* MMIO exits: reads of 1/2/4/8 bytes answered with the device pattern; a write recorded and read
 * back. Exit code 0 when all matched, 20 + the failing step otherwise. */
#include "tests/guests/guest.h"

#define REG(type, off) (*(volatile type*)(uintptr_t)(SNAPFAAS_MMIO_BASE + (off)))

int guest_main(uint64_t ram_bytes, uint32_t vcpu, uint32_t vcpu_count) {
  (void)ram_bytes;
  (void)vcpu;
  (void)vcpu_count;
  if (REG(uint8_t, 0x10) != (uint8_t)SNAPFAAS_MMIO_PATTERN(0x10)) return 21;
  if (REG(uint16_t, 0x20) != (uint16_t)SNAPFAAS_MMIO_PATTERN(0x20)) return 22;
  if (REG(uint32_t, 0x40) != (uint32_t)SNAPFAAS_MMIO_PATTERN(0x40)) return 23;
  if (REG(uint64_t, 0x80) != (uint64_t)SNAPFAAS_MMIO_PATTERN(0x80)) return 24;
  REG(uint32_t, 0x100) = 0x12345678u;
  if (REG(uint32_t, SNAPFAAS_MMIO_LAST_WRITE) != 0x12345678u) return 25;
  REG(uint64_t, 0x108) = 0x1122334455667788ull;
  if (REG(uint64_t, SNAPFAAS_MMIO_LAST_WRITE) != 0x1122334455667788ull) return 26;
  report(REG(uint32_t, 0x40));
  print("mmio ok\n");
  return 0;
}
