// The guest ABI of a runner's channel: where the ring window sits in guest-physical memory, which
// parts of the channel region it shows, and the port-I/O doorbells. The one header shared by the
// runner, the Linux guest agent (guest/agent/) and freestanding ring-3 test guests. Freestanding
// C++ like ipc/channel_layout.h (-ffreestanding -nostdlib -fno-exceptions builds include it).
//
// Window (guest-physical, fixed, outside RAM, inside the 32-bit MMIO gap, e820 "reserved"):
//
//   GPA                                  size                      channel region offset
//   kWindowGpa + 0x0000                  kPageSize                 0x0000 (header page: ChannelHeader,
//                                                                  runner + supervisor DoorbellWord,
//                                                                  RestoreRecord at +0x200: after a
//                                                                  restore, fresh entropy and the host
//                                                                  clock; ipc/restore_record.h)
//   kWindowGpa + 0x1000 + x              total - request_offset    request_offset + x
//        (request ring, response ring, payload slots, in channel order)
//
// The control and control-reply rings ([kPageSize, request_offset)) are NOT in the window: a guest
// can never forge or read runner commands. window_size() <= kWindowMaxSize (256 MiB: the window
// must end before the virtio-mmio devices at 0xD0000000); the runner refuses larger channels.
//
// Ports (x86 port I/O, 32-bit accesses only; a ring-3 guest needs IOPL=3, the Linux agent iopl(3)):
//   kPortWait          0x5F0  in   → kWaitReady once the request ring is non-empty (the vCPU stays
//                                    inside the exit meanwhile), or kWaitShutdown when the runner
//                                    received ControlOp::kShutdown (the agent then exits 0). The
//                                    runner only counts entries (ipc::RingObserver over both indices,
//                                    which the guest can write); it never reads an entry. The guest is
//                                    the ring's only consumer: after kWaitReady it pops the entry itself.
//                                    A WAIT first does what RESPONSE_READY does (wakes the supervisor
//                                    doorbell when it has sleepers), so a guest that pushed responses
//                                    and parks next rings only WAIT: one exit per sparse request.
//   kPortResponseReady 0x5F4  out  ← any value (ignored). The guest pushed a response; the runner wakes
//                                    the supervisor doorbell. The agent only rings it when the
//                                    supervisor doorbell's `sleeping` is set (after a SEQ_CST fence),
//                                    so it is exitless under load, and not at all when its next step
//                                    is a WAIT (above). The runner skips the FUTEX_WAKE when the
//                                    supervisor woke meanwhile.
//   kPortSnapshotPoint 0x5F8  out  ← SnapshotPoint code (1 base, 2 diff). firerunner --dump_dir saves
//                                    at 1 after a boot, at 2 after a restore (the vCPU parks right after the write).
//   kPortAgentFatal    0x5FC  out  ← AgentFatal code; the agent exits non-zero right after. Sent only
//                                    once the window header validated (before that the agent touches
//                                    no port: it may not be running under a SnapFaaS runner at all).
// Other ports in [kPortFirst, kPortFirst + kPortCount) and other access widths: the runner logs
// and ignores writes, reads return all ones.
//
// The runner side (how the window is mapped, WAIT's spin and park, control commands meanwhile) is
// runner/window/ (ring_window.h, window_ports.h); docs/ARCHITECTURE.md has the whole request path.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ipc/channel_layout.h"

namespace snapfaas::ipc {

/// Guest-physical base of the ring window (inside the 32-bit MMIO gap, below the virtio-mmio devices).
inline constexpr std::uint64_t kWindowGpa = 0xC0000000ULL;
/// Largest window a runner maps (so [kWindowGpa, kWindowGpa + kWindowMaxSize) stays below 0xD0000000).
inline constexpr std::uint64_t kWindowMaxSize = 0x10000000ULL;
/// Window offset where channel offset request_offset appears.
inline constexpr std::uint64_t kWindowRingsOffset = kPageSize;
/// Returned by window_to_channel_offset / channel_to_window_offset for offsets outside the window.
inline constexpr std::uint64_t kNotInWindow = ~std::uint64_t{0};

inline constexpr std::uint16_t kPortFirst = 0x5F0;
inline constexpr std::uint16_t kPortCount = 0x10;
inline constexpr std::uint16_t kPortWait = 0x5F0;           // in  32: kWaitReady or kWaitShutdown
inline constexpr std::uint16_t kPortResponseReady = 0x5F4;  // out 32: response pushed (value ignored)
inline constexpr std::uint16_t kPortSnapshotPoint = 0x5F8;  // out 32: SnapshotPoint
inline constexpr std::uint16_t kPortAgentFatal = 0x5FC;     // out 32: AgentFatal

/// kPortWait answer meaning "the request ring is non-empty: pop it".
inline constexpr std::uint32_t kWaitReady = 0;
/// kPortWait answer meaning "shutdown requested: stop serving and exit 0".
inline constexpr std::uint32_t kWaitShutdown = 0xFFFFFFFFu;

/// ControlCommand::arg0 of ControlOp::kPing asking the runner to reply at the guest's first WAIT.
inline constexpr std::uint32_t kPingGuestReady = 1;

/// kPortSnapshotPoint values.
enum class SnapshotPoint : std::uint32_t {
  kBase = 1,  ///< runtime up (Python initialised), function not yet imported
  kDiff = 2,  ///< function imported, about to park on the first WAIT
};

/// kPortAgentFatal values (also the agent's process exit code).
enum class AgentFatal : std::uint32_t {
  kUsage = 2,          ///< bad command line
  kWindowMap = 3,      ///< cannot open / map the window
  kWindowHeader = 4,   ///< window header invalid (magic, version, layout, size)
  kPortAccess = 5,     ///< iopl(3) refused
  kPythonInit = 6,     ///< CPython failed to initialise
  kImport = 7,         ///< handler module or handle() missing / import raised
  kRingCorrupt = 8,    ///< request or response ring indices inconsistent
  kBadWaitAnswer = 9,  ///< WAIT answered with neither kWaitReady nor kWaitShutdown
  kAppfsMount = 10,    ///< the app image could not be mounted
  kFunctionExited = 11,  ///< the function's runtime process died (exit, signal, OOM kill): the VM is done
};

/// Bytes of the window of a channel with layout `l`.
constexpr std::uint64_t window_size(const ChannelLayout& l) { return kPageSize + (l.total_size - l.request_offset); }

/// Channel offset shown at window offset `w`, or kNotInWindow.
constexpr std::uint64_t window_to_channel_offset(const ChannelLayout& l, std::uint64_t w) {
  if (w < kPageSize) return w;
  if (w >= window_size(l)) return kNotInWindow;
  return l.request_offset + (w - kWindowRingsOffset);
}

/// Window offset showing channel offset `c`, or kNotInWindow (the control rings, past the end).
constexpr std::uint64_t channel_to_window_offset(const ChannelLayout& l, std::uint64_t c) {
  if (c < kPageSize) return c;
  if (c < l.request_offset || c >= l.total_size) return kNotInWindow;
  return kWindowRingsOffset + (c - l.request_offset);
}

/// Window offsets of the sections the guest uses.
struct WindowLayout {
  ChannelLayout channel;
  std::uint64_t request_ring;   ///< RingIndices of the request ring
  std::uint64_t response_ring;  ///< RingIndices of the response ring
  std::uint64_t slots;          ///< slot 0
  std::uint64_t size;           ///< window_size(channel)

  friend bool operator==(const WindowLayout&, const WindowLayout&) = default;
};

constexpr WindowLayout compute_window_layout(const ChannelLayout& l) {
  WindowLayout w{};
  w.channel = l;
  w.request_ring = channel_to_window_offset(l, l.request_offset);
  w.response_ring = channel_to_window_offset(l, l.response_offset);
  w.slots = channel_to_window_offset(l, l.slots_offset);
  w.size = window_size(l);
  return w;
}

/// Why a window header was refused (0 = accepted).
enum class WindowCheck : std::uint32_t {
  kOk = 0,
  kTooSmall,   ///< mapping smaller than the header page or than the window
  kBadMagic,
  kBadVersion,
  kBadParams,  ///< header_size / slot_size / slot_count invalid
  kMismatch,   ///< offsets or capacities differ from compute_channel_layout
  kTooLarge,   ///< window larger than kWindowMaxSize
};

/// Validates a header copied out of the window (copy it first: the caller keeps the result and
/// never re-reads the header) against `mapped` window bytes; fills *out on kOk.
constexpr WindowCheck check_window_header(const ChannelHeader& h, std::uint64_t mapped, WindowLayout* out) {
  if (h.magic != kChannelMagic) return WindowCheck::kBadMagic;
  if (h.version != kChannelVersion) return WindowCheck::kBadVersion;
  if (h.header_size != sizeof(ChannelHeader) || !channel_params_valid(h.slot_size, h.slot_count)) {
    return WindowCheck::kBadParams;
  }
  const ChannelLayout l = compute_channel_layout(h.slot_size, h.slot_count);
  if (h.total_size != l.total_size || h.ring_capacity != l.ring_capacity ||
      h.control_capacity != l.control_capacity || h.control_offset != l.control_offset ||
      h.control_reply_offset != l.control_reply_offset || h.request_offset != l.request_offset ||
      h.response_offset != l.response_offset || h.slots_offset != l.slots_offset) {
    return WindowCheck::kMismatch;
  }
  if (window_size(l) > kWindowMaxSize) return WindowCheck::kTooLarge;
  if (mapped < window_size(l)) return WindowCheck::kTooSmall;
  *out = compute_window_layout(l);
  return WindowCheck::kOk;
}

// The default channel: window = header page + 2 ring pages + 64 slots of 64 KiB.
static_assert(compute_window_layout(compute_channel_layout(kDefaultSlotSize, kDefaultSlotCount)).request_ring ==
              kWindowRingsOffset);
static_assert(compute_window_layout(compute_channel_layout(kDefaultSlotSize, kDefaultSlotCount)).response_ring ==
              2 * kPageSize);
static_assert(compute_window_layout(compute_channel_layout(kDefaultSlotSize, kDefaultSlotCount)).slots ==
              3 * kPageSize);
static_assert(window_size(compute_channel_layout(kDefaultSlotSize, kDefaultSlotCount)) ==
              3 * kPageSize + 64ULL * 64 * 1024);
static_assert(window_to_channel_offset(compute_channel_layout(kDefaultSlotSize, kDefaultSlotCount), 0x1000) ==
              3 * kPageSize);
static_assert(channel_to_window_offset(compute_channel_layout(kDefaultSlotSize, kDefaultSlotCount), kPageSize) ==
              kNotInWindow);  // the control ring is not visible
static_assert(kWindowGpa + kWindowMaxSize <= 0xD0000000ULL);
static_assert(kPortWait >= kPortFirst && kPortAgentFatal < kPortFirst + kPortCount);

#if defined(__x86_64__) || defined(__i386__)
/// 32-bit port read (guest side: needs IOPL 3 at CPL 3).
inline std::uint32_t port_in32(std::uint16_t port) {
  std::uint32_t value;
  __asm__ volatile("inl %1, %0" : "=a"(value) : "Nd"(port) : "memory");
  return value;
}
/// 32-bit port write (guest side). "memory" clobber: ring stores are issued before the exit.
inline void port_out32(std::uint16_t port, std::uint32_t value) {
  __asm__ volatile("outl %0, %1" : : "a"(value), "Nd"(port) : "memory");
}
#endif

}  // namespace snapfaas::ipc
