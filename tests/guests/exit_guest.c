/* Exits at once with code 42 (exit-status propagation; the boot benchmark's guest: its first port
 * I/O is the exit). */
#include "tests/guests/guest.h"

int guest_main(uint64_t ram_bytes, uint32_t vcpu, uint32_t vcpu_count) {
  (void)ram_bytes;
  (void)vcpu;
  (void)vcpu_count;
  return 42;
}
