// Shared helpers of the ring-window ring-3 guests (window_echo_guest.cpp, window_hostile_guest.cpp):
// freestanding C++ over ipc/guest_abi.h. The window sits at kWindowGpa, identity-mapped by the
// ring-3 loader (the 32-bit MMIO gap is mapped with 2 MiB user pages).
#pragma once

extern "C" {
#include "tests/guests/guest.h"
}
#include "ipc/guest_abi.h"

namespace window_guest {

using namespace snapfaas::ipc;

/// The window's sections as guest pointers.
struct Window {
  WindowLayout layout;
  RingIndices* requests;
  RequestDesc* request_entries;
  RingIndices* responses;
  ResponseDesc* response_entries;
  DoorbellWord* supervisor_bell;
  std::uint8_t* slots;
};

inline std::uint8_t* window_base() {
  // SAFETY: kWindowGpa is identity-mapped; the runner registered the window memslots there.
  return reinterpret_cast<std::uint8_t*>(static_cast<std::uintptr_t>(kWindowGpa));
}

/// Copies and validates the header (never re-read afterwards); false when it is refused.
inline bool open_window(Window* w, WindowCheck* why) {
  ChannelHeader h;
  const volatile std::uint8_t* src = window_base();
  auto* dst = reinterpret_cast<std::uint8_t*>(&h);
  for (unsigned i = 0; i < sizeof h; ++i) dst[i] = src[i];
  *why = check_window_header(h, kWindowMaxSize, &w->layout);
  if (*why != WindowCheck::kOk) return false;
  std::uint8_t* base = window_base();
  // SAFETY: offsets come from compute_window_layout of a validated header; all lie in the window.
  w->requests = reinterpret_cast<RingIndices*>(base + w->layout.request_ring);
  w->request_entries = reinterpret_cast<RequestDesc*>(base + w->layout.request_ring + kRingEntriesOffset);
  w->responses = reinterpret_cast<RingIndices*>(base + w->layout.response_ring);
  w->response_entries = reinterpret_cast<ResponseDesc*>(base + w->layout.response_ring + kRingEntriesOffset);
  w->supervisor_bell = reinterpret_cast<DoorbellWord*>(base + kSupervisorDoorbellOffset);
  w->slots = base + w->layout.slots;
  return true;
}

inline std::uint64_t rdtsc() {
  std::uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return (static_cast<std::uint64_t>(hi) << 32) | lo;
}

/// Pushes a response (the guest is the response ring's producer) without ringing; true when the
/// supervisor sleeps (SEQ_CST fence pairs with the sleeper's, ipc/channel_layout.h) and must be
/// woken: by RESPONSE_READY, or by the next WAIT, which wakes it first (ipc/guest_abi.h).
inline bool push_response_quiet(Window* w, std::uint64_t* tail, const ResponseDesc& r) {
  const std::uint32_t cap = w->layout.channel.ring_capacity;
  // Room check: the supervisor's head (acquire: it finished reading that entry).
  while (*tail - __atomic_load_n(&w->responses->head, __ATOMIC_ACQUIRE) >= cap) cpu_relax();
  ResponseDesc* e = &w->response_entries[*tail & (cap - 1)];
  e->request_id = r.request_id;
  e->slot = r.slot;
  e->length = r.length;
  e->status = r.status;
  e->restore_generation = 0;  // a ring-3 guest applies no restore record
  __atomic_store_n(&w->responses->tail, ++*tail, __ATOMIC_RELEASE);
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  return __atomic_load_n(&w->supervisor_bell->sleeping, __ATOMIC_RELAXED) != 0;
}

/// push_response_quiet, then RESPONSE_READY when the supervisor sleeps.
inline void push_response(Window* w, std::uint64_t* tail, const ResponseDesc& r) {
  if (push_response_quiet(w, tail, r)) port_out32(kPortResponseReady, r.slot);
}

inline std::uint64_t fnv1a(const std::uint8_t* p, std::uint32_t n) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (std::uint32_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

}  // namespace window_guest
