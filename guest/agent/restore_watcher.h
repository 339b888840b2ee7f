// RestoreWatcher: the agent's reader of the restore record (ipc/restore_record.h), shared by every
// runtime (Python today, Node.js next). A restored guest is a clone of its snapshot: the first
// time the agent sees a record generation it has not consumed (checked when a snapshot point
// returns and whenever WAIT returns), it copies the record once, validates the copy, and
//   - mixes the entropy into the guest kernel: RNDADDENTROPY (credited, 8 bits per byte) and
//     RNDRESEEDCRNG on /dev/random, so getrandom(2), /dev/urandom and everything built on them
//     (os.urandom, uuid4, secrets, ssl) differ between clones from then on;
//   - sets CLOCK_REALTIME to the host's time at the restore (the snapshot's clock is stale);
//   - returns the record so the runtime reseeds what it caches itself (PythonRuntime::reseed).
// Host test mode (futex doorbells) leaves the host's kernel and clock alone.
#pragma once

#include <cstdint>
#include <optional>

#include "ipc/channel_layout.h"

namespace snapfaas::guest {

class RestoreWatcher {
 public:
  /// `apply_to_kernel`: feed the kernel CRNG and set the clock (guest mode only).
  explicit RestoreWatcher(bool apply_to_kernel) noexcept : apply_to_kernel_(apply_to_kernel) {}

  /// Reads the record at `header_page` (the window's, read-only). A record with a generation or
  /// nonce not consumed yet is applied (kernel part) and returned; otherwise nullopt. Never throws;
  /// failures are logged (the guest then keeps the snapshot's entropy: logged as an error).
  [[nodiscard]] std::optional<ipc::RestoreRecord> poll(const std::uint8_t* header_page) noexcept;

  /// Restores seen so far (records applied).
  [[nodiscard]] std::uint64_t applied() const noexcept { return applied_; }
  /// The generation of the last record applied (0: none), for ResponseDesc::restore_generation.
  [[nodiscard]] std::uint64_t generation() const noexcept { return seen_generation_; }
  /// Time the last kernel part took (RNDADDENTROPY + RNDRESEEDCRNG + clock_settime), ns.
  [[nodiscard]] std::uint64_t last_kernel_ns() const noexcept { return last_kernel_ns_; }

 private:
  void apply_kernel(const ipc::RestoreRecord& record) noexcept;

  bool apply_to_kernel_;
  std::uint64_t seen_generation_ = 0;
  std::uint64_t seen_nonce_ = 0;
  std::uint64_t applied_ = 0;
  std::uint64_t last_kernel_ns_ = 0;
  bool warned_ = false;
};

}  // namespace snapfaas::guest
