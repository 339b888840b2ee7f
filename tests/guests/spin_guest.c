/* Spins forever, incrementing the 64-bit counter at SPIN_COUNTER_GPA (vCPU 0 only): the host test
 * pauses, resumes and stops it from outside. */
#include "tests/guests/guest.h"

#define SPIN_COUNTER_GPA 0x200000u

int guest_main(uint64_t ram_bytes, uint32_t vcpu, uint32_t vcpu_count) {
  (void)ram_bytes;
  (void)vcpu_count;
  volatile uint64_t* counter = (volatile uint64_t*)(uintptr_t)SPIN_COUNTER_GPA;
  if (vcpu == 0) {
    for (;;) *counter = *counter + 1;
  }
  for (;;) cpu_relax();
  return 0;
}
