// WorkingSetDumper: firerunner --dump_ws FILE. Records the guest pages a restored VM touched (its
// working set, REAP-style: runner/snapshot/working_set.h) into FILE, in the snapshot format's
// kWorkingSet file (validate_working_set reads it back, --load_ws / load_ws: true prefetch it).
// Built at create — /proc/self/pagemap and FILE's directory opened, a thread started under the
// saver program (files only in that directory, by its descriptor) — and armed at load with the
// restored snapshot's id. ipc::ControlOp::kDumpWorkingSet (fc_wrapper sends it after the first
// response) is handed to the thread, which reads which guest pages are present in this process's
// page table, writes FILE atomically and answers the command (value = pages recorded).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/unique_fd.h"
#include "ipc/channel_layout.h"
#include "runner/memory/guest_memory.h"
#include "runner/snapshot/snapshot_file.h"

namespace snapfaas::runner {

class WorkingSetDumper {
 public:
  /// Answers a command: status (ipc::ControlResult), value.
  using Reply = std::function<void(const ipc::ControlCommand&, std::int32_t, std::uint64_t)>;

  /// Create step (before lock-down): opens /proc/self/pagemap and the directory of `path` (created
  /// if needed). Throws common::Error naming what cannot be opened.
  explicit WorkingSetDumper(const std::string& path);
  ~WorkingSetDumper();
  WorkingSetDumper(const WorkingSetDumper&) = delete;
  WorkingSetDumper& operator=(const WorkingSetDumper&) = delete;

  /// The output directory's descriptor: the only one the thread's saver program lets it write in.
  [[nodiscard]] int dir_fd() const noexcept { return dir_.fd.get(); }
  /// Starts the thread; it runs `thread_init` (installs its seccomp program) first. On failure
  /// of thread_init, every later command is answered kDumpFailed. Once.
  void start(std::function<void()> thread_init);
  /// Load step: the VM restored snapshot `id` into `memory` (which must outlive this object);
  /// commands are answered through `reply`. Until then a command is answered kUnsupported.
  void arm(const GuestMemory& memory, const snapshot::SnapshotId& id, Reply reply);
  /// Hands a kDumpWorkingSet command to the thread. Never blocks on the recording (called with the
  /// window's control lock held). Any thread.
  void request(const ipc::ControlCommand& command);

 private:
  void thread_main(const std::function<void()>& thread_init) noexcept;
  void dump(const ipc::ControlCommand& command) noexcept;

  std::string path_;
  std::string name_;           // file name inside dir_
  snapshot::SnapshotDir dir_;
  common::UniqueFd pagemap_;

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<ipc::ControlCommand> queue_;     // guarded by mutex_
  bool quit_ = false;                         // guarded by mutex_
  const GuestMemory* memory_ = nullptr;       // guarded by mutex_ (set by arm)
  snapshot::SnapshotId id_{};                 // guarded by mutex_
  Reply reply_;                               // guarded by mutex_
  std::thread thread_;
};

}  // namespace snapfaas::runner
