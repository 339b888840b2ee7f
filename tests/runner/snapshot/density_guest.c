/* Ring-3 guest for bench_density (vCPU 0 only), shaped like a function VM: a "runtime" fills 64
 * pages (R) and asks for the base snapshot; a "function import" fills 16 pages (F) and asks for
 * the diff snapshot; then one "request" reads R and F and writes a 64-page response/heap area (W).
 * Exit code 7 when R and F were intact, 30 otherwise. */
#include "runner/snapshot/snapshot_abi.h"
#include "tests/guests/guest.h"

#define PAGE 4096ull
#define R_BASE 0x01000000ull /* 16 MiB */
#define R_PAGES 64u
#define F_BASE 0x02000000ull /* 32 MiB */
#define F_PAGES 16u
#define W_BASE 0x03000000ull /* 48 MiB */
#define W_PAGES 64u

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

static void snapshot_point(uint32_t tag) {
  outl(SNAPFAAS_PORT_SNAPSHOT, tag);
  while (inl(SNAPFAAS_PORT_SNAPSHOT) == SNAPFAAS_SNAPSHOT_PENDING) cpu_relax();
}

int guest_main(uint64_t ram_bytes, uint32_t vcpu, uint32_t vcpu_count) {
  (void)ram_bytes;
  (void)vcpu_count;
  if (vcpu != 0) return 0;
  fill(R_BASE, R_PAGES, 0x1);
  snapshot_point(1);
  fill(F_BASE, F_PAGES, 0xf);
  snapshot_point(2);
  const uint32_t r = check(R_BASE, R_PAGES, 0x1);
  const uint32_t f = check(F_BASE, F_PAGES, 0xf);
  fill(W_BASE, W_PAGES, r + f);
  report(r);
  report(f);
  return r == R_PAGES && f == F_PAGES ? 7 : 30;
}
