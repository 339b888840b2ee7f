/* Executes ud2 with no IDT: the VM cannot continue; firerunner must fail with a clear error. */
#include "tests/guests/guest.h"

int guest_main(uint64_t ram_bytes, uint32_t vcpu, uint32_t vcpu_count) {
  (void)ram_bytes;
  (void)vcpu;
  (void)vcpu_count;
  __asm__ volatile("ud2");
  return 0;
}
