/* Ring-3 guest for the snapshot tests (vCPU 0 only): writes pattern A, asks for a snapshot, checks
 * A, writes pattern B (the "request"), asks for a second snapshot, checks A and B. Each step
 * reports on the result port so the test sees where it ran and in which VM (taken vs restored).
 * Exit code 7 when both patterns were intact at the end, 30 otherwise. */
#include "runner/snapshot/snapshot_abi.h"
#include "tests/guests/guest.h"

#define PAGE 4096ull
#define A_BASE 0x01000000ull /* 16 MiB */
#define A_PAGES 64u
#define B_BASE 0x02000000ull /* 32 MiB */
#define B_PAGES 8u

static uint64_t pattern(uint64_t addr, uint64_t seed) { return (addr * 0x9e3779b97f4a7c15ull) ^ seed; }

static void fill(uint64_t base, uint32_t pages, uint64_t seed) {
  for (uint64_t a = base; a < base + pages * PAGE; a += 8) *(volatile uint64_t*)(uintptr_t)a = pattern(a, seed);
}

static uint32_t check(uint64_t base, uint32_t pages, uint64_t seed) {
  uint32_t good = 0;
  for (uint32_t p = 0; p < pages; ++p) {
    uint32_t ok = 1;
    for (uint64_t a = base + p * PAGE; a < base + (p + 1) * PAGE; a += 8) {
      if (*(volatile uint64_t*)(uintptr_t)a != pattern(a, seed)) ok = 0;
    }
    good += ok;
  }
  return good;
}

static uint32_t snapshot_point(uint32_t tag) {
  outl(SNAPFAAS_PORT_SNAPSHOT, tag);
  uint32_t s;
  while ((s = inl(SNAPFAAS_PORT_SNAPSHOT)) == SNAPFAAS_SNAPSHOT_PENDING) cpu_relax();
  return s;
}

int guest_main(uint64_t ram_bytes, uint32_t vcpu, uint32_t vcpu_count) {
  (void)ram_bytes;
  (void)vcpu_count;
  if (vcpu != 0) return 0;
  fill(A_BASE, A_PAGES, 0xa);
  report(0xa0);
  report(snapshot_point(1));
  report(check(A_BASE, A_PAGES, 0xa));
  fill(B_BASE, B_PAGES, 0xb);
  report(snapshot_point(2));
  const uint32_t a = check(A_BASE, A_PAGES, 0xa);
  const uint32_t b = check(B_BASE, B_PAGES, 0xb);
  report(a);
  report(b);
  return a == A_PAGES && b == B_PAGES ? 7 : 30;
}
