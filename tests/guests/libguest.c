/* The few libc functions a freestanding compiler may emit calls to. */
#include "tests/guests/guest.h"

void* memset(void* d, int c, size_t n) {
  volatile uint8_t* p = d;
  while (n--) *p++ = (uint8_t)c;
  return d;
}

void* memcpy(void* d, const void* s, size_t n) {
  volatile uint8_t* p = d;
  const uint8_t* q = s;
  while (n--) *p++ = *q++;
  return d;
}
