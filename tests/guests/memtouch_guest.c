/* Touches all guest RAM above the image (both sides of the 32-bit MMIO gap): each vCPU writes a
 * per-address pattern into its share of the pages, then vCPU 0 verifies every page and reports
 * the number of pages checked. Exit code 0 on success, 30 on a mismatch. */
#include "tests/guests/guest.h"

extern char _end[];
static volatile uint32_t g_done;

#define PAGE 4096ull
#define GAP_START 0xc0000000ull
#define GAP_END 0x100000000ull

/* RAM offset -> guest-physical address (RAM above 3 GiB continues at 4 GiB). */
static uint64_t ram_gpa(uint64_t offset) { return offset < GAP_START ? offset : offset + (GAP_END - GAP_START); }

static uint64_t pattern(uint64_t gpa) { return gpa * 0x9e3779b97f4a7c15ull ^ 0x5eed; }

int guest_main(uint64_t ram_bytes, uint32_t vcpu, uint32_t vcpu_count) {
  const uint64_t first = ((uint64_t)(uintptr_t)_end + PAGE - 1) / PAGE;
  const uint64_t pages = ram_bytes / PAGE;
  for (uint64_t p = first + vcpu; p < pages; p += vcpu_count) {
    const uint64_t gpa = ram_gpa(p * PAGE);
    volatile uint64_t* w = (volatile uint64_t*)(uintptr_t)gpa;
    for (uint64_t i = 0; i < PAGE / 8; i += 8) w[i] = pattern(gpa + i * 8);
  }
  if (vcpu != 0) {
    __atomic_add_fetch(&g_done, 1, __ATOMIC_RELEASE);
    return 0;
  }
  while (__atomic_load_n(&g_done, __ATOMIC_ACQUIRE) != vcpu_count - 1) cpu_relax();
  uint32_t checked = 0;
  for (uint64_t p = first; p < pages; ++p) {
    const uint64_t gpa = ram_gpa(p * PAGE);
    volatile uint64_t* w = (volatile uint64_t*)(uintptr_t)gpa;
    for (uint64_t i = 0; i < PAGE / 8; i += 8) {
      if (w[i] != pattern(gpa + i * 8)) return 30;
    }
    ++checked;
  }
  report(checked);
  return 0;
}
