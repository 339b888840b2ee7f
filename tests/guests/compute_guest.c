/* Deterministic compute loop on every vCPU (seed = vCPU index + 1); each reports its value, vCPU 0
 * last, after the others have reported. */
#include "tests/guests/compute.h"
#include "tests/guests/guest.h"

static volatile uint32_t g_done;

int guest_main(uint64_t ram_bytes, uint32_t vcpu, uint32_t vcpu_count) {
  (void)ram_bytes;
  const uint32_t value = snapfaas_compute(vcpu + 1, SNAPFAAS_COMPUTE_ITERATIONS);
  if (vcpu != 0) {
    report(value);
    __atomic_add_fetch(&g_done, 1, __ATOMIC_RELEASE);
    return 0;
  }
  while (__atomic_load_n(&g_done, __ATOMIC_ACQUIRE) != vcpu_count - 1) cpu_relax();
  report(value);
  return 0;
}
