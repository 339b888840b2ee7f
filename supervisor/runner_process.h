// RunnerProcess: one runner slot of the supervisor — its jailed firerunner process, the channel the
// supervisor created for it, and where the slot is in its life (one ipc::RunnerState, the same value
// snapfaas-stat shows). The event loop (runner_pool.h) decides; this class only does: spawn, send
// commands and requests, read replies and responses, kill and reap. Single-threaded; neither
// copied nor moved (the pool keeps them in a deque).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/runner_command.h"
#include "ipc/channel.h"
#include "ipc/runner_times.h"
#include "ipc/stats_block.h"
#include "supervisor/jail_contents.h"
#include "supervisor/jailer.h"

namespace snapfaas::supervisor {

/// How runners are started (the same for every slot).
struct RunnerLaunch {
  std::string binary;
  common::RunnerCommand command;       ///< firerunner's command line; the channel is set per spawn
  std::vector<std::string> extra;      ///< appended after it (tests and debugging: --runner_arg)
  JailContents jail;                   ///< host paths visible (read-only) inside a jail, by function
};

class RunnerProcess {
 public:
  using Clock = std::chrono::steady_clock;

  explicit RunnerProcess(std::uint32_t slot) noexcept : slot_(slot) {}
  RunnerProcess(const RunnerProcess&) = delete;
  RunnerProcess& operator=(const RunnerProcess&) = delete;
  ~RunnerProcess() { kill(); }

  /// Bytes of each payload slot of a runner's channel: the largest request and response.
  static constexpr std::uint32_t kSlotSize = ipc::kDefaultSlotSize;

  /// Creates a fresh channel (new generation), starts the jailed runner on it — its jail holding
  /// the files of `servable` (function indices) only, its stdout `console_fd` when >= 0 — and asks
  /// for the ready ping (kPingGuestReady): kStarting. Throws common::Error when the jailer cannot
  /// spawn.
  void spawn(const RunnerLaunch& launch, Jailer& jailer, std::span<const std::uint32_t> servable,
             int console_fd = -1);
  /// SIGKILL and reap (if not reaped yet), remove the channel: kStopped. Idempotent.
  void kill() noexcept;
  /// The process was reaped elsewhere (waitpid(-1)): forget its pid; the channel stays readable.
  void mark_reaped() noexcept { pid_ = -1; }

  /// Sends kRestore/kBoot for function table index `function` with `flags` (ipc::LoadFlags):
  /// kLoading. False when the control ring is full (nothing sent).
  [[nodiscard]] bool send_load(ipc::ControlOp op, std::uint32_t function, std::uint64_t flags) noexcept;
  /// Asks the runner to exit (best effort).
  void send_shutdown() noexcept;
  /// Copies `payload` into a slot and sends it as request `request` (kBusy on success).
  [[nodiscard]] ipc::Status send_request(std::uint64_t request, std::span<const std::uint8_t> payload) noexcept;

  [[nodiscard]] ipc::Result<ipc::ControlReply> try_reply() noexcept { return channel_->try_control_reply(); }
  /// CLOCK_MONOTONIC ns at which the runner first answered its guest's WAIT with a request since
  /// its last load (ipc/runner_times.h); 0 when none or no channel. Untrusted: a display figure.
  [[nodiscard]] std::uint64_t guest_first_ready_ns() const noexcept;
  /// KVM's page-fault and exit counts for the guest from the last load to its first response
  /// (ipc/runner_times.h); nullopt when not (yet) published or no channel. Untrusted: display only.
  [[nodiscard]] std::optional<ipc::LoadCounters> guest_load_counters() const noexcept;
  /// A validated response; its payload stays valid until release(response.slot).
  [[nodiscard]] ipc::Result<ipc::Response> try_response() noexcept { return channel_->try_receive(); }
  void release(std::uint32_t slot) noexcept { (void)channel_->release(slot); }
  /// Something to read (a reply or a response), judged by the channel's private consumer indices
  /// only: whatever a guest writes into the shared ones cannot make it true.
  [[nodiscard]] bool readable() const noexcept;
  /// The supervisor doorbell of this slot's channel (for the event loop's ipc::wait_any), or nullptr.
  [[nodiscard]] ipc::Doorbell* doorbell() noexcept;

  [[nodiscard]] std::uint32_t slot() const noexcept { return slot_; }
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  [[nodiscard]] bool has_channel() const noexcept { return channel_.has_value(); }
  /// Work outstanding: a reply or a response may come (the only slots the event loop waits on).
  [[nodiscard]] bool awaits_reply() const noexcept {
    return has_channel() && (state == ipc::RunnerState::kStarting || state == ipc::RunnerState::kLoading ||
                             state == ipc::RunnerState::kBusy);
  }
  [[nodiscard]] unsigned generation() const noexcept { return generation_; }
  [[nodiscard]] Clock::time_point started() const noexcept { return started_; }

  /// Where the slot is; set by this class for its own transitions, by the loop for the others.
  ipc::RunnerState state = ipc::RunnerState::kStopped;
  std::int64_t request = -1;       ///< request in flight (loading or busy), -1 for none
  std::int64_t pending_cold = -1;  ///< spawn-on-demand: request waiting for this runner to start
  /// A cold request answered whose KVM counts are not collected yet (RunnerTimes: the runner
  /// publishes them at the guest's first exit after the response); -1 for none.
  /// Collected by RunnerPool::collect_counts.
  std::int64_t counts_request = -1;
  std::uint32_t function = 0;      ///< function loaded or loading
  Clock::time_point deadline = Clock::time_point::max();  ///< of the request in flight
  Clock::time_point load_started{};                       ///< when the load command was sent

 private:
  std::uint32_t slot_;
  std::optional<ipc::SupervisorChannel> channel_;
  pid_t pid_ = -1;
  unsigned generation_ = 0;
  std::uint64_t command_id_ = 0;
  Clock::time_point started_{};
};

}  // namespace snapfaas::supervisor
