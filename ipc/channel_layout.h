// The per-runner channel region: one shared-memory object that the supervisor, the runner and
// (later) guest code all map. This header is the single definition of its layout. It compiles as
// freestanding C++ (guests build it with -ffreestanding -nostdlib): fixed-width fields, offsets
// from the region base, no pointers, no library beyond <cstdint>/<cstddef>.
//
// Region layout (all offsets from the region base; every section starts on a 4 KiB page):
//
//   offset                 size                              contents
//   0x0000                 4096                              header page:
//     +0x000                 128                               ChannelHeader (written once at creation)
//     +0x100                  64                               Doorbell "runner": rung when a request
//                                                              or a control command is pushed
//     +0x140                  64                               Doorbell "supervisor": rung when a
//                                                              response or a control reply is pushed
//     +0x200                 128                               RestoreRecord: written by the runner after
//                                                              each restore, before the vCPUs run
//                                                              (ipc/restore_record.h: fresh entropy and
//                                                              the host wall clock for the guest)
//     +0x280                  64                               WindowTrace: the runner's counts and TSC
//                                                              stamps of its WAIT / RESPONSE_READY exits
//                                                              (figures only, ipc/window_trace.h)
//     +0x2c0                  64                               RunnerTimes: when the runner first answered
//                                                              the guest's WAIT with a request after its
//                                                              last load (ipc/runner_times.h)
//   control_offset         page_round(128 + 16 * 32)         control ring: ControlCommand, supervisor → runner
//   control_reply_offset   page_round(128 + 16 * 24)         control reply ring: ControlReply, runner → supervisor
//   request_offset         page_round(128 + cap * 16)        request ring: RequestDesc, supervisor → consumer
//   response_offset        page_round(128 + cap * 24)        response ring: ResponseDesc, consumer → supervisor
//   slots_offset           slot_count * slot_size            payload slots (slot i at slots_offset + i * slot_size)
//   total_size             = slots_offset + slot_count * slot_size
//
// where cap = ring_capacity = the smallest power of two >= slot_count (so a ring never fills while
// each in-flight request holds a slot). The header repeats every offset; readers recompute the
// layout from (slot_size, slot_count) and reject a header whose offsets differ.
//
// Ring section: RingIndices (128 bytes: head and tail on separate cache lines) followed at +128 by
// `capacity` entries. head and tail are free-running uint64 counters; entry i lives at index
// i & (capacity - 1). The consumer owns head, the producer owns tail; each side only stores its
// own index and only loads the other's. Host code uses std::atomic_ref, guests __atomic builtins:
//   producer: write entry; store tail+1 RELEASE  (pairs with the consumer's ACQUIRE load of tail);
//             then fence SEQ_CST and load doorbell.sleeping RELAXED; if non-zero, wake the consumer
//             (host: seq fetch_add RELEASE + FUTEX_WAKE; guest: port-I/O doorbell to the runner).
//   consumer: load tail ACQUIRE; reject tail - head > capacity or tail moving backwards; read entry;
//             store head+1 RELEASE (pairs with the producer's ACQUIRE load of head, so an entry is
//             only overwritten after it was read).
// Doorbell protocol (see ipc/doorbell.h): the sleeper loads seq ACQUIRE, increments sleeping
// RELAXED, fences SEQ_CST, re-checks its ring, then futex-waits on seq while it still equals the
// loaded value, and decrements sleeping when it leaves. The two SEQ_CST fences make "producer sees sleeping" or "consumer sees the entry"
// certain, so no wakeup is lost.
#pragma once

#include <cstddef>
#include <cstdint>

namespace snapfaas::ipc {

inline constexpr std::uint64_t kChannelMagic = 0x4E48434650414E53ULL;  // "SNAPFCHN" little-endian
inline constexpr std::uint32_t kChannelVersion = 2;  // 2: RestoreRecord at kRestoreRecordOffset
inline constexpr std::uint64_t kPageSize = 4096;
inline constexpr std::uint64_t kCacheLine = 64;

inline constexpr std::uint32_t kDefaultSlotSize = 64 * 1024;
inline constexpr std::uint32_t kDefaultSlotCount = 64;
inline constexpr std::uint32_t kMaxSlotSize = 16 * 1024 * 1024;
inline constexpr std::uint32_t kMaxSlotCount = 4096;
inline constexpr std::uint32_t kControlCapacity = 16;

inline constexpr std::uint64_t kRunnerDoorbellOffset = 0x100;
inline constexpr std::uint64_t kSupervisorDoorbellOffset = 0x140;
inline constexpr std::uint64_t kRingEntriesOffset = 128;  // entries start after RingIndices
inline constexpr std::uint64_t kRestoreRecordOffset = 0x200;  // RestoreRecord in the header page
inline constexpr std::uint64_t kWindowTraceOffset = 0x280;    // WindowTrace in the header page

/// Region header; written once by the supervisor before any peer attaches, read-only afterwards.
struct ChannelHeader {
  std::uint64_t magic;                 // 0x00 kChannelMagic
  std::uint32_t version;               // 0x08 kChannelVersion
  std::uint32_t header_size;           // 0x0c sizeof(ChannelHeader)
  std::uint64_t total_size;            // 0x10 bytes of the whole region
  std::uint32_t slot_size;             // 0x18 bytes per payload slot (multiple of kPageSize)
  std::uint32_t slot_count;            // 0x1c number of payload slots
  std::uint32_t ring_capacity;         // 0x20 request/response ring entries (power of two)
  std::uint32_t control_capacity;      // 0x24 control ring entries (kControlCapacity)
  std::uint64_t control_offset;        // 0x28
  std::uint64_t control_reply_offset;  // 0x30
  std::uint64_t request_offset;        // 0x38
  std::uint64_t response_offset;       // 0x40
  std::uint64_t slots_offset;          // 0x48
  std::uint64_t reserved[6];           // 0x50 zero
};
static_assert(sizeof(ChannelHeader) == 128);
static_assert(offsetof(ChannelHeader, total_size) == 0x10);
static_assert(offsetof(ChannelHeader, ring_capacity) == 0x20);
static_assert(offsetof(ChannelHeader, slots_offset) == 0x48);

/// One wake direction. `seq` is the 32-bit futex word (bumped by the waker); `sleeping` counts the
/// consumers of that direction that are parked or about to park (non-zero: wake).
struct alignas(64) DoorbellWord {
  std::uint32_t seq;       // +0 futex word: fetch_add RELEASE by waker, load ACQUIRE by sleeper
  std::uint32_t sleeping;  // +4 fetch_add/fetch_sub RELAXED by sleepers (SEQ_CST fence after the add); load RELAXED by waker after its fence
  std::uint8_t pad[56];
};
static_assert(sizeof(DoorbellWord) == 64);
static_assert(kRunnerDoorbellOffset >= sizeof(ChannelHeader));
static_assert(kSupervisorDoorbellOffset == kRunnerDoorbellOffset + sizeof(DoorbellWord));

/// Bytes of fresh entropy in each RestoreRecord (512 bits: twice what the guest CRNG needs).
inline constexpr std::uint32_t kRestoreEntropyBytes = 64;
inline constexpr std::uint32_t kRestoreRecordVersion = 1;

/// What a runner tells its guest after a restore (header page +0x200; the guest sees the header page
/// read-only, so it cannot forge the record of its own channel, and no other VM sees it). Written
/// only by the runner, with a seqlock: `seq` is odd while the runner writes, and the restore
/// generation is seq / 2 (0: no restore published, e.g. a booted VM). Protocol and the checked
/// copy-then-validate reader: ipc/restore_record.h.
struct RestoreRecord {
  std::uint32_t seq;                            // 0x00 seqlock word (odd: being written)
  std::uint32_t version;                        // 0x04 kRestoreRecordVersion
  std::uint64_t nonce;                          // 0x08 random, different for every restore
  std::int64_t realtime_ns;                     // 0x10 host CLOCK_REALTIME (ns since the epoch) at the restore
  std::uint32_t entropy_size;                   // 0x18 kRestoreEntropyBytes
  std::uint32_t flags;                          // 0x1c zero (reserved)
  std::uint8_t entropy[kRestoreEntropyBytes];   // 0x20 from the host's getrandom(2)
  std::uint64_t reserved[4];                    // 0x60 zero
};
static_assert(sizeof(RestoreRecord) == 128);
static_assert(offsetof(RestoreRecord, nonce) == 0x08);
static_assert(offsetof(RestoreRecord, realtime_ns) == 0x10);
static_assert(offsetof(RestoreRecord, entropy) == 0x20);
static_assert(kRestoreRecordOffset >= kSupervisorDoorbellOffset + sizeof(DoorbellWord));
static_assert(kRestoreRecordOffset + sizeof(RestoreRecord) <= kPageSize);
static_assert(kRestoreRecordOffset % 64 == 0);

/// What the runner's ring-window ports did (header page +0x280): exit counts and the TSC stamps of
/// the last WAIT / RESPONSE_READY, so a benchmark can split a request's round trip into phases and
/// count exits per request (bench/request_rtt.cpp). Written only by the runner's vCPU threads
/// (ipc/window_trace.h: RELAXED atomic stores, no ordering: figures read while the path is
/// quiescent). Nobody decides anything on these values. Zero in a new region; the guest sees it
/// read-only.
struct WindowTrace {
  std::uint64_t waits;              // 0x00 WAIT exits
  std::uint64_t wait_parks;         // 0x08 of which parked on the runner doorbell's futex
  std::uint64_t response_rings;     // 0x10 RESPONSE_READY exits
  std::uint64_t supervisor_wakes;   // 0x18 FUTEX_WAKEs of the supervisor doorbell by the ports
  std::uint64_t wait_ready_tsc;     // 0x20 TSC when the last WAIT answered kWaitReady (the vCPU re-enters)
  std::uint64_t wait_woken_tsc;     // 0x28 TSC when the last parked WAIT's futex wait returned
  std::uint64_t doorbell_exit_tsc;  // 0x30 TSC when the last exit that rings for responses (RESPONSE_READY,
                                    //      or a WAIT, which does the same) reached the ports
  std::uint64_t wake_done_tsc;      // 0x38 TSC after the ports' last FUTEX_WAKE of the supervisor returned
};
static_assert(sizeof(WindowTrace) == 64);
static_assert(kWindowTraceOffset >= kRestoreRecordOffset + sizeof(RestoreRecord));
static_assert(kWindowTraceOffset + sizeof(WindowTrace) <= kPageSize);

inline constexpr std::uint64_t kRunnerTimesOffset = 0x2c0;  // RunnerTimes in the header page

/// What the runner measured of its guest since its last load, for the supervisor's per-phase
/// timing of a cold request (header page +0x2c0; read-only to the guest): when the runner first
/// answered WAIT with kWaitReady after the load, and what KVM counted for the guest's vCPUs from
/// the load until the guest's first response — the page faults KVM took (first touches of guest
/// memory, shadow-page-table fills) and the VM exits, summed over the vCPUs, published by the vCPU
/// thread at the guest's first exit after that response (before it wakes the supervisor). Written
/// only by the runner (reset by its VMM thread when a load starts, before the vCPUs run; each part
/// set once by a vCPU thread), read by the supervisor once the request's response arrived (the
/// counts again later when they came after it). Informational: a reader checks the time against
/// its own timestamps before use, the counts are display figures. Protocol: ipc/runner_times.h.
struct RunnerTimes {
  std::uint64_t first_ready_ns;    // 0x00 CLOCK_MONOTONIC ns at that WAIT answer (0: none since the load)
  std::uint64_t load_counted;      // 0x08 1: the two counters below are set for this load; 0: not (yet)
  std::uint64_t load_page_faults;  // 0x10 KVM's pf_taken, load -> first response
  std::uint64_t load_exits;        // 0x18 KVM's exits, load -> first response
  std::uint64_t reserved[4];       // 0x20 zero
};
static_assert(sizeof(RunnerTimes) == 64);
static_assert(kRunnerTimesOffset >= kWindowTraceOffset + sizeof(WindowTrace));
static_assert(kRunnerTimesOffset + sizeof(RunnerTimes) <= kPageSize);
static_assert(kRunnerTimesOffset % 64 == 0);
static_assert(offsetof(RunnerTimes, load_counted) == 0x08 && offsetof(RunnerTimes, load_exits) == 0x18);

/// The two indices of a ring section, each on its own cache line.
struct RingIndices {
  alignas(64) std::uint64_t head;  // +0  consumer's count of entries taken (only the consumer stores)
  std::uint8_t pad0[56];
  alignas(64) std::uint64_t tail;  // +64 producer's count of entries pushed (only the producer stores)
  std::uint8_t pad1[56];
};
static_assert(sizeof(RingIndices) == kRingEntriesOffset);
static_assert(offsetof(RingIndices, tail) == 64);

/// Request ring entry: the payload of request `request_id` is `length` bytes at the start of `slot`.
struct RequestDesc {
  std::uint64_t request_id;
  std::uint32_t slot;
  std::uint32_t length;
};
static_assert(sizeof(RequestDesc) == 16);

/// Response ring entry: the response is `length` bytes at the start of the same `slot`.
struct ResponseDesc {
  std::uint64_t request_id;
  std::uint32_t slot;
  std::uint32_t length;
  std::uint32_t status;  // ResponseStatus
  /// The restore record generation (RestoreRecord, low 32 bits) the guest had applied when it
  /// answered; 0: none (never restored, or a runner/peer that does not say). The guest's word:
  /// reported (results, tests), never acted on.
  std::uint32_t restore_generation;
};
static_assert(sizeof(ResponseDesc) == 24);
static_assert(offsetof(ResponseDesc, status) == 16);

/// ResponseDesc::status values.
enum class ResponseStatus : std::uint32_t { kOk = 0, kHandlerError = 1, kRejected = 2 };

/// Runner commands (ControlCommand::op).
enum class ControlOp : std::uint32_t {
  kBoot = 1,      // boot the function: arg0 = function table index
  kRestore = 2,   // restore a snapshot: arg0 = function table index, arg1 = LoadFlags
  kShutdown = 3,  // stop serving and exit
  kPing = 4,      // reply at once (liveness)
  // Record the guest pages the restored VM touched so far (its working set) into the runner's
  // --dump_ws file (runner/snapshot/snapshot.h, the snapshot format's kWorkingSet file); answered
  // later with value = pages recorded, kUnsupported for a runner without --dump_ws. fc_wrapper
  // sends it after the first response; the supervisor never does.
  kDumpWorkingSet = 5,
};
inline constexpr std::uint32_t kMaxControlOp = 5;

/// ControlCommand::arg1 of ControlOp::kRestore, "load flags": how the snapshot layers are brought
/// in (0: map base and diffs MAP_PRIVATE, clean pages shared in the page cache).
inline constexpr std::uint64_t kLoadCopyBase = 1U << 0;  ///< read the base memory into anonymous memory
inline constexpr std::uint64_t kLoadCopyDiff = 1U << 1;  ///< read the diffs into anonymous memory
/// Prefetch the working set saved beside the last layer (DIR/working_set) before the guest runs
/// (MADV_POPULATE_READ of its pages: the function YAML's `load_ws: true`). A missing or invalid
/// working set is logged and the restore goes on lazily.
inline constexpr std::uint64_t kLoadWorkingSet = 1U << 2;
inline constexpr std::uint64_t kLoadFlagsKnown = kLoadCopyBase | kLoadCopyDiff | kLoadWorkingSet;

/// ControlReply::status values: what became of a command. Never errno values.
enum class ControlResult : std::int32_t {
  kOk = 0,             ///< done (kRestore/kBoot: the VM runs the function; kPing: value = ns since creation; kRestore/kBoot: value = ns the load took in the runner)
  kBootedAtSpawn = 1,  ///< kBoot to a runner that booted its --kernel at spawn: the VM already runs it (success)
  kUnsupported = 2,    ///< this runner does not serve that op (kRestore without a function table)
  kBusy = 3,           ///< too many kPingGuestReady waiting; ask again later
  kBadFunction = 4,    ///< arg0 is not an index of the function table (nothing touched)
  kNoSnapshot = 5,     ///< the function has no snapshot or a layer's directory is missing (nothing touched)
  kLoadFailed = 6,     ///< the restore failed half-way: the VM is unusable, the runner exits after replying
  kDumpFailed = 7,     ///< kDumpWorkingSet: the working set could not be recorded or written (the VM goes on)
};
inline constexpr std::int32_t kMaxControlResult = 7;

/// True when `status` (a ControlReply::status) means the command took effect.
constexpr bool control_succeeded(std::int32_t status) {
  return status == static_cast<std::int32_t>(ControlResult::kOk) ||
         status == static_cast<std::int32_t>(ControlResult::kBootedAtSpawn);
}

/// Control ring entry, supervisor → runner.
struct ControlCommand {
  std::uint64_t command_id;
  std::uint32_t op;  // ControlOp; validated by the receiver
  std::uint32_t arg0;
  std::uint64_t arg1;
  std::uint64_t arg2;
};
static_assert(sizeof(ControlCommand) == 32);

/// Control reply ring entry, runner → supervisor.
struct ControlReply {
  std::uint64_t command_id;
  std::uint32_t op;
  std::int32_t status;  // ControlResult (untrusted: the supervisor checks the range)
  std::uint64_t value;  // kPing: ns since the runner's creation; kRestore/kBoot: ns the runner spent on the load
};
static_assert(sizeof(ControlReply) == 24);

static_assert(__is_standard_layout(ChannelHeader) && __is_trivially_copyable(ChannelHeader));
static_assert(__is_standard_layout(DoorbellWord) && __is_trivially_copyable(DoorbellWord));
static_assert(__is_standard_layout(RestoreRecord) && __is_trivially_copyable(RestoreRecord));
static_assert(__is_standard_layout(WindowTrace) && __is_trivially_copyable(WindowTrace));
static_assert(__is_standard_layout(RunnerTimes) && __is_trivially_copyable(RunnerTimes));
static_assert(__is_standard_layout(RingIndices) && __is_trivially_copyable(RingIndices));
static_assert(__is_trivially_copyable(RequestDesc) && __is_trivially_copyable(ResponseDesc));
static_assert(__is_trivially_copyable(ControlCommand) && __is_trivially_copyable(ControlReply));

/// Offsets and sizes of one region; a pure function of (slot_size, slot_count).
struct ChannelLayout {
  std::uint32_t slot_size;
  std::uint32_t slot_count;
  std::uint32_t ring_capacity;
  std::uint32_t control_capacity;
  std::uint64_t control_offset;
  std::uint64_t control_reply_offset;
  std::uint64_t request_offset;
  std::uint64_t response_offset;
  std::uint64_t slots_offset;
  std::uint64_t total_size;

  friend bool operator==(const ChannelLayout&, const ChannelLayout&) = default;
};

constexpr std::uint64_t page_round(std::uint64_t n) { return (n + kPageSize - 1) & ~(kPageSize - 1); }

constexpr std::uint32_t ring_capacity_for(std::uint32_t slot_count) {
  std::uint32_t cap = 1;
  while (cap < slot_count) cap <<= 1;
  return cap;
}

/// True when (slot_size, slot_count) describe a valid region.
constexpr bool channel_params_valid(std::uint32_t slot_size, std::uint32_t slot_count) {
  return slot_size >= kPageSize && slot_size <= kMaxSlotSize && slot_size % kPageSize == 0 &&
         slot_count >= 1 && slot_count <= kMaxSlotCount;
}

/// The layout for valid parameters (see channel_params_valid); sizes fit easily in 64 bits.
constexpr ChannelLayout compute_channel_layout(std::uint32_t slot_size, std::uint32_t slot_count) {
  ChannelLayout l{};
  l.slot_size = slot_size;
  l.slot_count = slot_count;
  l.ring_capacity = ring_capacity_for(slot_count);
  l.control_capacity = kControlCapacity;
  l.control_offset = kPageSize;
  l.control_reply_offset =
      l.control_offset + page_round(kRingEntriesOffset + std::uint64_t{kControlCapacity} * sizeof(ControlCommand));
  l.request_offset =
      l.control_reply_offset + page_round(kRingEntriesOffset + std::uint64_t{kControlCapacity} * sizeof(ControlReply));
  l.response_offset =
      l.request_offset + page_round(kRingEntriesOffset + std::uint64_t{l.ring_capacity} * sizeof(RequestDesc));
  l.slots_offset =
      l.response_offset + page_round(kRingEntriesOffset + std::uint64_t{l.ring_capacity} * sizeof(ResponseDesc));
  l.total_size = l.slots_offset + std::uint64_t{slot_size} * slot_count;
  return l;
}

/// The header a region with layout `l` carries (what ChannelView::format writes).
constexpr ChannelHeader make_channel_header(const ChannelLayout& l) {
  ChannelHeader h{};
  h.magic = kChannelMagic;
  h.version = kChannelVersion;
  h.header_size = sizeof(ChannelHeader);
  h.total_size = l.total_size;
  h.slot_size = l.slot_size;
  h.slot_count = l.slot_count;
  h.ring_capacity = l.ring_capacity;
  h.control_capacity = l.control_capacity;
  h.control_offset = l.control_offset;
  h.control_reply_offset = l.control_reply_offset;
  h.request_offset = l.request_offset;
  h.response_offset = l.response_offset;
  h.slots_offset = l.slots_offset;
  return h;
}

// The default region: 64 slots of 64 KiB behind four one-page rings.
static_assert(compute_channel_layout(kDefaultSlotSize, kDefaultSlotCount).request_offset == 3 * kPageSize);
static_assert(compute_channel_layout(kDefaultSlotSize, kDefaultSlotCount).slots_offset == 5 * kPageSize);
static_assert(compute_channel_layout(kDefaultSlotSize, kDefaultSlotCount).total_size ==
              5 * kPageSize + 64ULL * 64 * 1024);

}  // namespace snapfaas::ipc
