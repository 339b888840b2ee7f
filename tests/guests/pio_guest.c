/* Port I/O exits: 1/2/4-byte out + in through the echo port, then a console line. Exit code 0 when
 * every read-back matched, 10 + the failing step otherwise. */
#include "tests/guests/guest.h"

int guest_main(uint64_t ram_bytes, uint32_t vcpu, uint32_t vcpu_count) {
  (void)ram_bytes;
  (void)vcpu;
  (void)vcpu_count;
  outb(SNAPFAAS_PORT_ECHO, 0x5a);
  if (inb(SNAPFAAS_PORT_ECHO) != 0x5a) return 11;
  outw(SNAPFAAS_PORT_ECHO, 0xbeef);
  if (inw(SNAPFAAS_PORT_ECHO) != 0xbeef) return 12;
  outl(SNAPFAAS_PORT_ECHO, 0xcafef00du);
  if (inl(SNAPFAAS_PORT_ECHO) != 0xcafef00du) return 13;
  if (inb(SNAPFAAS_PORT_ECHO) != 0x0d) return 14; /* low byte of the stored value */
  if (inl(0x0600) != 0xffffffffu) return 15;      /* unclaimed port reads all-ones */
  report(0xcafef00du);
  print("pio ok\n");
  return 0;
}
