// Hostile ring-3 guest for the ring window. Reports (debug result port, "result N") and then ends
// with an attack the runner must refuse by stopping this VM:
//   result 1: header page write did not stick (0 if it did: header memslot not read-only)
//   result 2: every odd port access (wrong widths, unaligned, read of an out-port) read all ones
//             and did not stop the VM (0 if one did not)
//   then WAITs for one request and answers it with garbage responses: wrong request id, slot
//   9999, length > slot size, then moves the response tail far ahead (the supervisor must reject
//   each with a clear error), and finally (HOSTILE_FINAL):
//   1: request ring head beyond tail, 2: request ring tail (the supervisor's) forged more than
//   capacity ahead, 3: head moved more than capacity behind the tail
//   → WAIT: the runner, which only counts entries (it never reads one), stops the VM (exit 1).
#include "tests/guests/window_guest.h"

#ifndef HOSTILE_FINAL
#define HOSTILE_FINAL 1
#endif

using namespace window_guest;

extern "C" int guest_main(std::uint64_t, std::uint32_t vcpu, std::uint32_t) {
  if (vcpu != 0) return 0;
  Window w;
  WindowCheck why;
  if (!open_window(&w, &why)) return 100 + static_cast<int>(why);
  const std::uint32_t cap = w.layout.channel.ring_capacity;

  // 1. Overwrite the header page: magic and the runner doorbell word.
  volatile std::uint8_t* header = window_base();
  const std::uint8_t magic0 = header[0];
  header[0] = static_cast<std::uint8_t>(magic0 ^ 0xff);
  volatile std::uint32_t* runner_seq = reinterpret_cast<volatile std::uint32_t*>(window_base() + kRunnerDoorbellOffset);
  const std::uint32_t seq = *runner_seq;
  *runner_seq = seq + 12345;
  report(header[0] == magic0 && *runner_seq == seq ? 1 : 0);

  // 2. Odd port accesses: none may block, stop the VM or return anything but all ones.
  bool ok = true;
  ok &= inb(kPortWait) == 0xff;
  ok &= inw(kPortWait) == 0xffff;
  ok &= inl(kPortResponseReady) == 0xffffffffu;
  ok &= inl(kPortFirst + 0xC) == 0xffffffffu;
  ok &= inl(kPortFirst + 1) == 0xffffffffu;  // unaligned 32-bit read
  outb(kPortResponseReady, 1);
  outw(kPortAgentFatal, 3);                  // wrong width: ignored, the VM keeps running
  outl(kPortFirst + 2, 7);                   // unaligned
  outl(kPortSnapshotPoint, 77);              // unknown snapshot code: reported only
  report(ok ? 2 : 0);

  // 3. One request, answered with garbage.
  std::uint64_t head = __atomic_load_n(&w.requests->head, __ATOMIC_RELAXED);
  std::uint64_t resp_tail = __atomic_load_n(&w.responses->tail, __ATOMIC_RELAXED);
  std::uint32_t answer = port_in32(kPortWait);
  if (answer == kWaitShutdown) return 0;
  const RequestDesc d = w.request_entries[head & (cap - 1)];
  __atomic_store_n(&w.requests->head, ++head, __ATOMIC_RELEASE);
  push_response(&w, &resp_tail, {d.request_id + 1, d.slot, 0, 0, 0});                     // wrong id
  push_response(&w, &resp_tail, {d.request_id, 9999, 0, 0, 0});                           // slot out of range
  push_response(&w, &resp_tail, {d.request_id, d.slot, w.layout.channel.slot_size + 1, 0, 0});  // too long
  // Let the supervisor see those three before the tail jumps (it may not read an entry at all once
  // it has seen an impossible tail).
  while (__atomic_load_n(&w.responses->head, __ATOMIC_ACQUIRE) != resp_tail) cpu_relax();
  __atomic_store_n(&w.responses->tail, resp_tail + 1000, __ATOMIC_RELEASE);               // far ahead
  port_out32(kPortResponseReady, 0xdeadbeef);

  // 4. The final attack on the request ring, then WAIT.
  const std::uint64_t tail = __atomic_load_n(&w.requests->tail, __ATOMIC_ACQUIRE);
#if HOSTILE_FINAL == 1
  __atomic_store_n(&w.requests->head, tail + 5, __ATOMIC_RELEASE);
#elif HOSTILE_FINAL == 2
  __atomic_store_n(&w.requests->tail, tail + cap + 1, __ATOMIC_RELEASE);
#else
  __atomic_store_n(&w.requests->head, tail - cap - 7, __ATOMIC_RELEASE);
#endif
  answer = port_in32(kPortWait);
  report(answer == kWaitShutdown ? 3 : 0);  // after the runner refused: the VM is stopping
  for (;;) cpu_relax();
}
