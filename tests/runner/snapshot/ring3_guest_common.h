/* Page-pattern helpers and the snapshot request shared by the ring-3 snapshot guests
 * (snapshot_guest.c, density_guest.c): fill/check pages with an address-derived pattern, and ask
 * firerunner for a snapshot on SNAPFAAS_PORT_SNAPSHOT (runner/snapshot/snapshot_abi.h). */
#ifndef SNAPFAAS_TESTS_RUNNER_SNAPSHOT_RING3_GUEST_COMMON_H
#define SNAPFAAS_TESTS_RUNNER_SNAPSHOT_RING3_GUEST_COMMON_H

#include <stdint.h>

#include "runner/snapshot/snapshot_abi.h"
#include "tests/guests/guest.h"

#define PAGE 4096ull

/* The 64-bit word expected at guest address `addr` for pattern `seed`. */
static inline uint64_t pattern(uint64_t addr, uint64_t seed) { return (addr * 0x9e3779b97f4a7c15ull) ^ seed; }

/* Writes pattern `seed` over `pages` pages from `base`. */
static inline void fill(uint64_t base, uint32_t pages, uint64_t seed) {
  for (uint64_t a = base; a < base + pages * PAGE; a += 8) *(volatile uint64_t*)(uintptr_t)a = pattern(a, seed);
}

/* Returns how many of the `pages` pages from `base` hold pattern `seed` intact. */
static inline uint32_t check(uint64_t base, uint32_t pages, uint64_t seed) {
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

/* Asks for snapshot `tag` and spins until the host answers; returns the host's status word. */
static inline uint32_t snapshot_point(uint32_t tag) {
  outl(SNAPFAAS_PORT_SNAPSHOT, tag);
  uint32_t s;
  while ((s = inl(SNAPFAAS_PORT_SNAPSHOT)) == SNAPFAAS_SNAPSHOT_PENDING) cpu_relax();
  return s;
}

#endif
