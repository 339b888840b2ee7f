/* The deterministic compute loop shared by compute_guest.c and the host-side test that checks its
 * result: xorshift64 over `iterations` steps, folded to 32 bits. */
#ifndef SNAPFAAS_TESTS_GUESTS_COMPUTE_H
#define SNAPFAAS_TESTS_GUESTS_COMPUTE_H

#include <stdint.h>

#define SNAPFAAS_COMPUTE_ITERATIONS 10000000u

static inline uint32_t snapfaas_compute(uint64_t seed, uint32_t iterations) {
  uint64_t x = seed | 1;
  uint64_t acc = 0;
  for (uint32_t i = 0; i < iterations; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    acc += x >> 11;
  }
  return (uint32_t)(acc ^ (acc >> 32));
}

#endif
