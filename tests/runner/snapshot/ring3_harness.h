// Test harness: runs vCPU 0 of a RestoreTarget holding a ring-3 guest on the calling thread, with
// the debug ports (exit, result) and the snapshot port, until the guest exits or asks for a snapshot.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runner/devices/bus.h"
#include "runner/snapshot/restore_target.h"
#include "runner/snapshot/snapshot_port.h"

namespace snapfaas::runner::snapshot::test {

inline constexpr std::uint64_t kMiB = 1ull << 20;

/// Loads the ring-3 ELF at `path` into `target` and sets every vCPU's entry registers.
void boot_ring3(RestoreTarget& target, const std::string& path);

enum class Stop { kExit, kSnapshot, kError };

class Ring3Harness {
 public:
  Ring3Harness(RestoreTarget& target, bool restored);
  /// KVM_RUN on vCPU 0 until the exit port, a snapshot request, or an unhandled exit.
  Stop run();
  /// One KVM_RUN up to the guest's next exit, left for the next run() to handle (the bench's
  /// "first instruction" point).
  void run_to_exit();
  /// capture_microvm + save_snapshot, then answers the guest's request.
  SavedSnapshot snapshot(const std::string& dir, const std::optional<SnapshotId>& base);

  [[nodiscard]] const std::vector<std::uint32_t>& results() const;
  [[nodiscard]] int exit_code() const;
  [[nodiscard]] const std::string& error() const noexcept { return error_; }
  [[nodiscard]] SnapshotPort& port() noexcept { return *port_; }

 private:
  class Ports;
  RestoreTarget& target_;
  Bus pio_;
  Bus mmio_;
  std::shared_ptr<Ports> ports_;
  std::shared_ptr<SnapshotPort> port_;
  std::string error_;
  bool pending_exit_ = false;
};

/// Path of the test guest binary.
[[nodiscard]] std::string guest_path();

}  // namespace snapfaas::runner::snapshot::test
