/* The contract between firerunner and freestanding ring-3 test guests (tests/guests/): entry
 * registers, the debug/result port protocol and the test MMIO window. Plain C: guests include it. */
#ifndef SNAPFAAS_RUNNER_RING3_ABI_H
#define SNAPFAAS_RUNNER_RING3_ABI_H

/* ELF note that marks an executable as a ring-3 guest (name "SnapFaaS", this type). firerunner
 * starts such a file at CPL3 with IOPL=3; --ring3 forces the same for a file without the note. */
#define SNAPFAAS_RING3_NOTE_NAME "SnapFaaS"
#define SNAPFAAS_RING3_NOTE_TYPE 0x52333300u /* "R33\0" */

/* Entry state: 64-bit mode, CPL3, RFLAGS.IOPL=3, interrupts off, guest RAM identity-mapped with
 * 2 MiB user pages (the 32-bit MMIO gap too), RSP = a per-vCPU 16 KiB stack below 640 KiB.
 *   rdi = guest RAM bytes, rsi = this vCPU's index, rdx = number of vCPUs.
 * Every vCPU starts at the ELF entry. Load addresses must be >= SNAPFAAS_RING3_MIN_LOAD. */
#define SNAPFAAS_RING3_MIN_LOAD 0x100000u
#define SNAPFAAS_RING3_GAP_START 0xc0000000u /* RAM above this lives at 4 GiB + ... */

/* Ports (out/in from CPL3 exit straight to the VMM). */
#define SNAPFAAS_PORT_EXIT 0x0500u    /* out 1/2/4 bytes: stop the VM, firerunner exits with this code */
#define SNAPFAAS_PORT_RESULT 0x0504u  /* out 4 bytes: a result value, printed "result <vcpu> <value>" */
#define SNAPFAAS_PORT_CONSOLE 0x0508u /* out 1 byte: a character to the console (stdout or --console) */
#define SNAPFAAS_PORT_ECHO 0x050cu    /* out 1/2/4 bytes: stored; in 1/2/4 bytes: the stored value */
#define SNAPFAAS_PORT_FIRST 0x0500u
#define SNAPFAAS_PORT_COUNT 0x10u

/* Test MMIO window (inside the 32-bit MMIO gap, no memslot: every access exits). A read at offset
 * o < 0x800 returns SNAPFAAS_MMIO_PATTERN(o) (truncated to the access size); a write anywhere is
 * recorded; a read at SNAPFAAS_MMIO_LAST_WRITE returns the last written value (zero-extended). */
#define SNAPFAAS_MMIO_BASE 0xe0000000u
#define SNAPFAAS_MMIO_SIZE 0x1000u
#define SNAPFAAS_MMIO_LAST_WRITE 0x800u
#define SNAPFAAS_MMIO_PATTERN(o) (0xa5a50000u ^ (unsigned)(o) * 0x01010101u)

#endif /* SNAPFAAS_RUNNER_RING3_ABI_H */
