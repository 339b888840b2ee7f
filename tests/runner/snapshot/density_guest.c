/* Ring-3 guest for bench_density (vCPU 0 only), shaped like a function VM: a "runtime" fills 64
 * pages (R) and asks for the base snapshot; a "function import" fills 16 pages (F) and asks for
 * the diff snapshot; then one "request" reads R and F and writes a 64-page response/heap area (W).
 * Exit code 7 when R and F were intact, 30 otherwise. */
#include "tests/runner/snapshot/ring3_guest_common.h"

#define R_BASE 0x01000000ull /* 16 MiB */
#define R_PAGES 64u
#define F_BASE 0x02000000ull /* 32 MiB */
#define F_PAGES 16u
#define W_BASE 0x03000000ull /* 48 MiB */
#define W_PAGES 64u

int guest_main(uint64_t ram_bytes, uint32_t vcpu, uint32_t vcpu_count) {
  (void)ram_bytes;
  (void)vcpu_count;
  if (vcpu != 0) return 0;
  fill(R_BASE, R_PAGES, 0x1);
  (void)snapshot_point(1);
  fill(F_BASE, F_PAGES, 0xf);
  (void)snapshot_point(2);
  const uint32_t r = check(R_BASE, R_PAGES, 0x1);
  const uint32_t f = check(F_BASE, F_PAGES, 0xf);
  fill(W_BASE, W_PAGES, r + f);
  report(r);
  report(f);
  return r == R_PAGES && f == F_PAGES ? 7 : 30;
}
