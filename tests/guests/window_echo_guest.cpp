// Ring-3 echo guest for the ring window: serves requests like the guest agent (an adaptive spin on
// the request ring, ipc/adaptive_spin.h in TSC cycles, then WAIT), answers in the same slot and
// exits 0 on kWaitShutdown. Responses of one batch are pushed quietly and the supervisor, if it
// sleeps, is woken once after the batch: by RESPONSE_READY when the guest spins next, else by the
// WAIT itself (a WAIT does what RESPONSE_READY does: one exit per request while parked).
//   WINDOW_CHECKSUM=0: the response is the request bytes unchanged (fc_wrapper: JSON in, JSON out).
//   WINDOW_CHECKSUM=1: the response is FNV-1a64(payload) (8 bytes, little-endian) followed by the
//                      payload (status kRejected, length 0, when that does not fit the slot).
//   WINDOW_SPIN_CYCLES: the most TSC cycles to poll before WAIT (0: park at once).
//   WINDOW_TRACE=1:     (with WINDOW_CHECKSUM=1) appends two TSC stamps to each response: when the
//                       guest saw the request (WAIT returned, or the spin caught it) and right
//                       before it pushed the response (bench request_rtt's phase trace).
// A request whose payload starts with {"hostile" turns the guest hostile: it pushes its response
// ring tail far past anything valid and rings RESPONSE_READY (tests: only its VM may suffer).
// One starting with {"scribble" writes garbage into the response ring's head (the supervisor's
// index), rings RESPONSE_READY and never answers (tests: the supervisor still sleeps).
// Other payload prefixes (the supervisor's hostile-guest and restore tests):
//   {"restore_record"  answers {"generation":G,"nonce":"hex","realtime_ns":N,"entropy":"hex"}, the
//                      restore record of its header page as read through ipc/restore_record.h
//   {"bad_utf8"        answers status kOk with invalid UTF-8 bytes
//   {"garbage"         answers status kOk with bytes that are not JSON
//   {"forged_error"    answers an error naming a type only the supervisor may use ("timeout")
//   {"stall"           stops serving: never answers, never WAITs again (spins)
//   {"exit"            ends the VM at once (guest exit 3) without answering
// Before its first WAIT it writes SNAPSHOT_POINT 1 (base) once: firerunner --dump_dir saves a
// snapshot there; without it the write is a no-op. After the point the window is read again: a
// restored copy runs under another runner's channel, whose layout may differ.
#include "tests/guests/window_guest.h"
#include "ipc/adaptive_spin.h"
#include "ipc/restore_record.h"

#ifndef WINDOW_CHECKSUM
#define WINDOW_CHECKSUM 0
#endif
#ifndef WINDOW_SPIN_CYCLES
#define WINDOW_SPIN_CYCLES 150000
#endif
#ifndef WINDOW_TRACE
#define WINDOW_TRACE 0
#endif

using namespace window_guest;

namespace {

AdaptiveSpin spin_policy(WINDOW_SPIN_CYCLES);  // how long to poll before WAIT (TSC cycles)

/// Polls (as spin_policy decides) until the request ring is non-empty; the loaded tail (== head if
/// it stayed empty).
std::uint64_t poll_tail(const Window& w, std::uint64_t head) {
  std::uint64_t tail = __atomic_load_n(&w.requests->tail, __ATOMIC_ACQUIRE);  // pairs with the supervisor's release
  if (tail != head) return tail;
  auto arrived = [&] {
    tail = __atomic_load_n(&w.requests->tail, __ATOMIC_ACQUIRE);  // as above
    return tail != head;
  };
  (void)adaptive_poll(spin_policy, arrived, rdtsc, [] {});
  return tail;
}

// True when request `d` is valid and its payload starts with `prefix`.
template <std::size_t N>
bool request_starts_with(const Window& w, const RequestDesc& d, const char (&prefix)[N]) {
  constexpr std::uint32_t n = N - 1;
  if (d.slot >= w.layout.channel.slot_count || d.length < n || d.length > w.layout.channel.slot_size) return false;
  const std::uint8_t* slot = w.slots + static_cast<std::uint64_t>(d.slot) * w.layout.channel.slot_size;
  for (std::uint32_t i = 0; i < n; ++i) {
    if (slot[i] != static_cast<std::uint8_t>(prefix[i])) return false;
  }
  return true;
}

bool starts_with(const Window& w, const RequestDesc& d, const char* prefix) {
  std::uint32_t n = 0;
  while (prefix[n] != '\0') ++n;
  if (d.slot >= w.layout.channel.slot_count || d.length < n || d.length > w.layout.channel.slot_size) return false;
  const std::uint8_t* slot = w.slots + static_cast<std::uint64_t>(d.slot) * w.layout.channel.slot_size;
  for (std::uint32_t i = 0; i < n; ++i) {
    if (slot[i] != static_cast<std::uint8_t>(prefix[i])) return false;
  }
  return true;
}

/// Appends text to a response being built (bounded by the slot size).
struct Out {
  std::uint8_t* p;
  std::uint32_t n;
  std::uint32_t cap;
  void put(const char* text) {
    while (*text != '\0' && n < cap) p[n++] = static_cast<std::uint8_t>(*text++);
  }
  void hex(const std::uint8_t* bytes, std::uint32_t count) {
    static constexpr char kDigits[] = "0123456789abcdef";
    for (std::uint32_t i = 0; i < count && n + 2 <= cap; ++i) {
      p[n++] = static_cast<std::uint8_t>(kDigits[bytes[i] >> 4]);
      p[n++] = static_cast<std::uint8_t>(kDigits[bytes[i] & 15]);
    }
  }
  void dec(std::uint64_t v) {
    char digits[24];
    int k = 0;
    do {
      digits[k++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    while (k > 0 && n < cap) p[n++] = static_cast<std::uint8_t>(digits[--k]);
  }
};

/// The special answers (file comment); ~0u when `d` is not one of them.
std::uint32_t special_answer(const Window& w, const RequestDesc& d, std::uint32_t* status) {
  std::uint8_t* slot = w.slots + static_cast<std::uint64_t>(d.slot) * w.layout.channel.slot_size;
  Out out{slot, 0, w.layout.channel.slot_size};
  *status = static_cast<std::uint32_t>(ResponseStatus::kOk);
  if (starts_with(w, d, "{\"restore_record\"")) {
    RestoreRecord record{};
    const RestoreRecordCheck check = read_restore_record(window_base(), &record);
    out.put("{\"check\":");
    out.dec(static_cast<std::uint32_t>(check));
    out.put(",\"generation\":");
    out.dec(check == RestoreRecordCheck::kOk ? restore_generation(record) : 0);
    out.put(",\"nonce\":\"");
    out.hex(reinterpret_cast<const std::uint8_t*>(&record.nonce), sizeof record.nonce);
    out.put("\",\"realtime_ns\":");
    out.dec(static_cast<std::uint64_t>(record.realtime_ns));
    out.put(",\"entropy\":\"");
    out.hex(record.entropy, kRestoreEntropyBytes);
    out.put("\"}");
    return out.n;
  }
  if (starts_with(w, d, "{\"bad_utf8\"")) {
    out.put("{\"text\":\"\xff\xfe\xc3\x28\"}");
    return out.n;
  }
  if (starts_with(w, d, "{\"garbage\"")) {
    out.put("}}not json{{");
    return out.n;
  }
  if (starts_with(w, d, "{\"forged_error\"")) {
    *status = static_cast<std::uint32_t>(ResponseStatus::kHandlerError);
    out.put("{\"ok\":false,\"error\":{\"type\":\"timeout\",\"message\":\"forged\"}}");
    return out.n;
  }
  return ~0u;
}

std::uint32_t answer(const Window& w, const RequestDesc& d) {
  std::uint8_t* slot = w.slots + static_cast<std::uint64_t>(d.slot) * w.layout.channel.slot_size;
  if (!WINDOW_CHECKSUM) return d.length;
  if (static_cast<std::uint64_t>(d.length) + 8 + (WINDOW_TRACE ? 16 : 0) > w.layout.channel.slot_size) return ~0u;
  const std::uint64_t sum = fnv1a(slot, d.length);
  const std::uint64_t words = (static_cast<std::uint64_t>(d.length) + 7) / 8;
  if ((words + 1) * 8 <= w.layout.channel.slot_size) {
    // Shift the payload by 8 bytes a word at a time, from the end (slots are page-aligned).
    auto* q = reinterpret_cast<std::uint64_t*>(slot);  // SAFETY: words + 1 words fit the slot (checked)
    for (std::uint64_t i = words; i > 0; --i) q[i] = q[i - 1];
  } else {
    for (std::uint32_t i = d.length; i > 0; --i) slot[i + 7] = slot[i - 1];  // shift the payload by 8
  }
  for (int i = 0; i < 8; ++i) slot[i] = static_cast<std::uint8_t>(sum >> (8 * i));
  return d.length + 8;
}

}  // namespace

extern "C" int guest_main(std::uint64_t, std::uint32_t vcpu, std::uint32_t) {
  if (vcpu != 0) return 0;
  Window w;
  WindowCheck why;
  if (!open_window(&w, &why)) {
    print("window echo: window header refused\n");
    return 100 + static_cast<int>(why);
  }
  port_out32(kPortSnapshotPoint, static_cast<std::uint32_t>(SnapshotPoint::kBase));
  if (!open_window(&w, &why)) {
    print("window echo: window header refused after the snapshot point\n");
    return 100 + static_cast<int>(why);
  }
  const std::uint32_t cap = w.layout.channel.ring_capacity;
  std::uint64_t head = __atomic_load_n(&w.requests->head, __ATOMIC_RELAXED);       // ours (consumer)
  std::uint64_t resp_tail = __atomic_load_n(&w.responses->tail, __ATOMIC_RELAXED);  // ours (producer)
  bool wake_supervisor = false;  // responses pushed while the supervisor slept, not yet rung for
  std::uint64_t seen_tsc = 0;     // WINDOW_TRACE: when the current batch was seen
  for (;;) {
    std::uint64_t tail = __atomic_load_n(&w.requests->tail, __ATOMIC_ACQUIRE);  // pairs with the supervisor's release
    // Batched wake: going straight to WAIT (nothing queued, no spin next), the WAIT wakes the
    // supervisor; otherwise ring now, before spinning or serving the next batch.
    if (wake_supervisor && (tail != head || spin_policy.peek() != 0)) port_out32(kPortResponseReady, 0);
    wake_supervisor = false;
    if (tail == head) tail = poll_tail(w, head);
    seen_tsc = WINDOW_TRACE ? rdtsc() : 0;
    if (tail == head) {
      const std::uint32_t answer = port_in32(kPortWait);  // wakes the supervisor first if it sleeps
      seen_tsc = WINDOW_TRACE ? rdtsc() : 0;
      if (answer == kWaitShutdown) return 0;
      if (answer != kWaitReady) {
        port_out32(kPortAgentFatal, static_cast<std::uint32_t>(AgentFatal::kBadWaitAnswer));
        return static_cast<int>(AgentFatal::kBadWaitAnswer);
      }
      continue;  // re-read the ring: WAIT does not pop
    }
    if (tail - head > cap) {
      port_out32(kPortAgentFatal, static_cast<std::uint32_t>(AgentFatal::kRingCorrupt));
      return static_cast<int>(AgentFatal::kRingCorrupt);
    }
    while (head != tail) {
      RequestDesc d = w.request_entries[head & (cap - 1)];
      __atomic_store_n(&w.requests->head, ++head, __ATOMIC_RELEASE);  // entry copied: give it back
      if (request_starts_with(w, d, "{\"hostile\"")) {
        __atomic_store_n(&w.responses->tail, resp_tail + 0x10000, __ATOMIC_RELEASE);  // garbage index
        port_out32(kPortResponseReady, 0);
        continue;
      }
      if (request_starts_with(w, d, "{\"scribble\"")) {
        // The response ring's head is the supervisor's (its consumer): write garbage there and
        // ring, but never answer. Only the supervisor's private head may decide it has work.
        __atomic_store_n(&w.responses->head, resp_tail + 0x5c5c5c5c5cULL, __ATOMIC_RELEASE);
        port_out32(kPortResponseReady, 0);
        continue;
      }
      if (starts_with(w, d, "{\"stall\"")) {
        for (;;) cpu_relax();  // never answers, never exits: only the deadline ends this VM
      }
      if (starts_with(w, d, "{\"exit\"")) return 3;
      ResponseDesc r{d.request_id, d.slot, 0, static_cast<std::uint32_t>(ResponseStatus::kRejected), 0};
      std::uint32_t special_status = 0;
      if (const std::uint32_t length = special_answer(w, d, &special_status); length != ~0u) {
        r.length = length;
        r.status = special_status;
      } else if (d.slot < w.layout.channel.slot_count && d.length <= w.layout.channel.slot_size) {
        const std::uint32_t length = answer(w, d);
        if (length != ~0u) {
          r.length = length;
          r.status = static_cast<std::uint32_t>(ResponseStatus::kOk);
          if (WINDOW_TRACE) {  // answer() checked that 16 more bytes fit the slot
            std::uint8_t* slot = w.slots + static_cast<std::uint64_t>(d.slot) * w.layout.channel.slot_size;
            const std::uint64_t stamps[2] = {seen_tsc, rdtsc()};
            for (int i = 0; i < 16; ++i) slot[length + i] = static_cast<std::uint8_t>(stamps[i / 8] >> (8 * (i % 8)));
            r.length = length + 16;
          }
        }
      }
      wake_supervisor |= push_response_quiet(&w, &resp_tail, r);
    }
  }
}
