// The runner's half of the restore record (ipc/restore_record.h): right after a restore and before
// the vCPUs run, fresh getrandom(2) bytes and the host's CLOCK_REALTIME go into the channel's header
// page, where the restored guest agent reads them (guest/agent/restore_reseed.h). Called by every
// restore path: RunnerLifecycle (runner/runner_lifecycle.cpp): a pre-spawned runner's load and `--load_dir`.
#pragma once

#include <cstdint>

#include "ipc/channel.h"

namespace snapfaas::runner::window {

/// What one publish did.
struct PublishedRestore {
  std::uint64_t generation = 0;  ///< the record's new generation (1 for a runner's first restore)
  std::uint64_t cost_ns = 0;     ///< time spent (getrandom + clock + the seqlock'ed write)
};

/// Publishes the next restore record into `channel`'s header page. The runner is the record's only
/// writer; call from one thread, while no vCPU of this VM runs. Throws common::Error when
/// getrandom fails (the VM must not run with the snapshot's entropy).
PublishedRestore publish_restore_record(const ipc::RunnerChannel& channel);

}  // namespace snapfaas::runner::window
