/* Ring-3 guest for the snapshot tests (vCPU 0 only): writes pattern A, asks for a snapshot, checks
 * A, writes pattern B (the "request"), asks for a second snapshot, checks A and B. Each step
 * reports on the result port so the test sees where it ran and in which VM (taken vs restored).
 * Exit code 7 when both patterns were intact at the end, 30 otherwise. */
#include "tests/runner/snapshot/ring3_guest_common.h"

#define A_BASE 0x01000000ull /* 16 MiB */
#define A_PAGES 64u
#define B_BASE 0x02000000ull /* 32 MiB */
#define B_PAGES 8u

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
