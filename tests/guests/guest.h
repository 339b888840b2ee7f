/* Freestanding helpers for ring-3 test guests: port I/O, MMIO, and the firerunner debug ports
 * (runner/ring3/ring3_abi.h). Guests define guest_main(); start.S calls it on every vCPU. */
#ifndef SNAPFAAS_TESTS_GUESTS_GUEST_H
#define SNAPFAAS_TESTS_GUESTS_GUEST_H

#include <stddef.h>
#include <stdint.h>

#include "runner/ring3/ring3_abi.h"

/* Returns the guest's exit code (used on vCPU 0; other vCPUs park after returning). */
int guest_main(uint64_t ram_bytes, uint32_t vcpu, uint32_t vcpu_count);

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) {
  uint8_t v;
  __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
static inline uint16_t inw(uint16_t port) {
  uint16_t v;
  __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
static inline uint32_t inl(uint16_t port) {
  uint32_t v;
  __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}

static inline void report(uint32_t value) { outl(SNAPFAAS_PORT_RESULT, value); }
static inline void guest_exit(uint32_t code) {
  outl(SNAPFAAS_PORT_EXIT, code);
  for (;;) __asm__ volatile("pause");
}
static inline void print(const char* s) {
  while (*s) outb(SNAPFAAS_PORT_CONSOLE, (uint8_t)*s++);
}
static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }

void* memset(void* d, int c, size_t n);
void* memcpy(void* d, const void* s, size_t n);

#endif
