// The restore record protocol (layout: RestoreRecord in ipc/channel_layout.h, header page +0x200).
// A restored guest is a clone: its kernel CRNG, its runtime's generators and its wall clock are the
// snapshot's. After every restore (supervisor pre-spawned restores and `fc_wrapper --load_dir`,
// eager and lazy alike) the runner publishes a record — a new generation, the host's CLOCK_REALTIME
// and kRestoreEntropyBytes from getrandom(2) — before the vCPUs run; the guest agent reads it once
// per generation (copy, then validate), feeds the entropy to its kernel (RNDADDENTROPY +
// RNDRESEEDCRNG), sets CLOCK_REALTIME and reseeds its runtime (guest/agent/restore_reseed.h).
//
// Seqlock (one writer per channel, the runner; any number of readers):
//   writer: store seq+1 (odd) RELAXED; fence RELEASE; store the fields RELAXED;
//           store seq+2 (even) RELEASE (pairs with the reader's first ACQUIRE load of seq).
//   reader: load seq ACQUIRE (odd: retry); load the fields RELAXED into a private copy;
//           fence ACQUIRE; load seq RELAXED again (changed: retry). The fence pairs with the
//           writer's RELEASE fence, so a copy that raced a write always sees a changed seq.
// Generation = seq / 2: 0 means no restore was published (a booted VM); a reader compares
// (generation, nonce) with what it last consumed, so a guest restored from a snapshot taken after
// it had consumed generation 1 of another channel still sees the next generation 1 as new.
//
// Freestanding (-ffreestanding -nostdlib): __atomic builtins, no library calls.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ipc/channel_layout.h"

namespace snapfaas::ipc {

/// Why a record copy was refused (kOk: *out holds a consistent, validated copy).
enum class RestoreRecordCheck : std::uint32_t {
  kOk = 0,
  kNone,        ///< generation 0: no restore published
  kBusy,        ///< the runner kept writing for all tries (cannot happen while the vCPU runs)
  kBadVersion,  ///< version or entropy_size not this build's
  kBadClock,    ///< realtime_ns not after 2020-01-01
};

/// 2020-01-01T00:00:00Z in ns: a host clock before it is not believed.
inline constexpr std::int64_t kRestoreClockFloorNs = 1'577'836'800LL * 1'000'000'000LL;

namespace detail {
inline constexpr std::size_t kRecordWords = sizeof(RestoreRecord) / 8;
static_assert(sizeof(RestoreRecord) % 8 == 0 && alignof(RestoreRecord) == 8);
}  // namespace detail

/// Runner side: publishes the next generation into the header page at `header_page` (the channel
/// region base). `entropy` holds kRestoreEntropyBytes. Returns the new generation. Only the
/// channel's runner calls it, from one thread at a time, before the vCPUs run after a restore.
inline std::uint64_t publish_restore_record(std::uint8_t* header_page, std::uint64_t nonce, std::int64_t realtime_ns,
                                            const std::uint8_t* entropy) noexcept {
  // SAFETY: header_page is a whole mapped page; the record lies inside it (static_asserts in
  // channel_layout.h) at an 8-aligned offset.
  auto* record = reinterpret_cast<RestoreRecord*>(header_page + kRestoreRecordOffset);
  std::uint32_t seq = __atomic_load_n(&record->seq, __ATOMIC_RELAXED);  // our own word
  seq &= ~1U;  // a write torn by a crash of an earlier writer: start from the even value below it
  __atomic_store_n(&record->seq, seq + 1, __ATOMIC_RELAXED);
  __atomic_thread_fence(__ATOMIC_RELEASE);  // odd seq visible before any field (pairs with the reader's fence)
  RestoreRecord fields{};
  fields.version = kRestoreRecordVersion;
  fields.nonce = nonce;
  fields.realtime_ns = realtime_ns;
  fields.entropy_size = kRestoreEntropyBytes;
  for (std::uint32_t i = 0; i < kRestoreEntropyBytes; ++i) fields.entropy[i] = entropy[i];
  // SAFETY: both are RestoreRecord objects viewed as their 8-byte words (trivially copyable, 8-aligned).
  const auto* src = reinterpret_cast<const std::uint64_t*>(&fields);
  auto* dst = reinterpret_cast<std::uint64_t*>(record);
  // Word 0 holds seq (low half) and version (high half): version alone is stored.
  __atomic_store_n(&record->version, fields.version, __ATOMIC_RELAXED);
  for (std::size_t w = 1; w < detail::kRecordWords; ++w) __atomic_store_n(dst + w, src[w], __ATOMIC_RELAXED);
  __atomic_store_n(&record->seq, seq + 2, __ATOMIC_RELEASE);  // pairs with the reader's ACQUIRE load
  return (seq + 2) / 2;
}

/// Reader side (guest agent, tests): copies the record at `header_page` + kRestoreRecordOffset into
/// *out and validates the copy; `tries` bounds the retries while a write is in progress.
inline RestoreRecordCheck read_restore_record(const std::uint8_t* header_page, RestoreRecord* out,
                                              unsigned tries = 1000) noexcept {
  // SAFETY: as in publish_restore_record; the reader only loads.
  const auto* record = reinterpret_cast<const RestoreRecord*>(header_page + kRestoreRecordOffset);
  const auto* words = reinterpret_cast<const std::uint64_t*>(record);
  auto* copy = reinterpret_cast<std::uint64_t*>(out);
  for (unsigned attempt = 0; attempt < tries; ++attempt) {
    const std::uint32_t before = __atomic_load_n(&record->seq, __ATOMIC_ACQUIRE);  // pairs with the final store
    if (before & 1U) continue;
    for (std::size_t w = 0; w < detail::kRecordWords; ++w) copy[w] = __atomic_load_n(words + w, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);  // pairs with the writer's RELEASE fence after the odd seq
    if (__atomic_load_n(&record->seq, __ATOMIC_RELAXED) != before) continue;
    out->seq = before;  // the copy's word 0 may hold a later seq's low half: keep the checked one
    if (before == 0) return RestoreRecordCheck::kNone;
    if (out->version != kRestoreRecordVersion || out->entropy_size != kRestoreEntropyBytes) {
      return RestoreRecordCheck::kBadVersion;
    }
    if (out->realtime_ns < kRestoreClockFloorNs) return RestoreRecordCheck::kBadClock;
    return RestoreRecordCheck::kOk;
  }
  return RestoreRecordCheck::kBusy;
}

/// The generation of a copied record (0: none).
constexpr std::uint64_t restore_generation(const RestoreRecord& record) noexcept { return record.seq / 2; }

constexpr const char* to_string(RestoreRecordCheck check) noexcept {
  switch (check) {
    case RestoreRecordCheck::kOk: return "ok";
    case RestoreRecordCheck::kNone: return "no restore published";
    case RestoreRecordCheck::kBusy: return "record being written";
    case RestoreRecordCheck::kBadVersion: return "unknown record version";
    case RestoreRecordCheck::kBadClock: return "host clock before 2020";
  }
  return "unknown";
}

}  // namespace snapfaas::ipc
