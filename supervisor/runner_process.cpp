// RunnerProcess: spawn, commands, requests, kill (see runner_process.h).
#include "supervisor/runner_process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "common/error.h"
#include "ipc/guest_abi.h"
#include "ipc/runner_times.h"

namespace snapfaas::supervisor {
namespace {

constexpr std::uint32_t kChannelSlots = 4;

}  // namespace

void RunnerProcess::spawn(const RunnerLaunch& launch, Jailer& jailer, std::span<const std::uint32_t> servable,
                          int console_fd) {
  ++generation_;
  // The channel: a sealed memfd of the runner's own (0600, its uid's, fixed size), handed to it as
  // descriptor kChannelFd; it has no name another runner could open.
  const std::string label = "snapfaas-" + std::to_string(::getpid()) + "-r" + std::to_string(slot_) + "-g" +
                            std::to_string(generation_);
  const RunnerIdentity id = jailer.identity(slot_);
  channel_.emplace(ipc::SupervisorChannel::create_sealed(label, {kSlotSize, kChannelSlots},
                                                         ipc::ShmOwner{id.uid, id.gid}));
  JailSpec spec;
  spec.binary = launch.binary;
  common::RunnerCommand command = launch.command;
  command.channel = ipc::ShmObject::fd_reference(kChannelFd);
  spec.args = common::runner_args(command);
  spec.args.insert(spec.args.end(), launch.extra.begin(), launch.extra.end());
  spec.read_only = launch.jail.paths_for(servable);
  spec.channel_fd = channel_->shm().fd();
  spec.hostname = "runner-" + std::to_string(slot_);
  spec.console_fd = console_fd;
  pid_ = jailer.spawn(spec, slot_);
  state = ipc::RunnerState::kStarting;
  started_ = Clock::now();
  request = -1;
  deadline = Clock::time_point::max();
  if (!channel_->send_control({++command_id_, static_cast<std::uint32_t>(ipc::ControlOp::kPing),
                               ipc::kPingGuestReady, 0, 0})) {
    throw common::Error("runner " + std::to_string(slot_) + ": control ring full at start");
  }
}

void RunnerProcess::kill() noexcept {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  pid_ = -1;
  channel_.reset();  // unmaps and closes the channel (a sealed memfd: no name to remove)
  state = ipc::RunnerState::kStopped;
  request = -1;
  deadline = Clock::time_point::max();
}

bool RunnerProcess::send_load(ipc::ControlOp op, std::uint32_t function_index, std::uint64_t flags) noexcept {
  if (!channel_ || !channel_->send_control({++command_id_, static_cast<std::uint32_t>(op), function_index, flags, 0})) {
    return false;
  }
  state = ipc::RunnerState::kLoading;
  return true;
}

void RunnerProcess::send_shutdown() noexcept {
  if (channel_ && pid_ > 0) {
    (void)channel_->send_control({++command_id_, static_cast<std::uint32_t>(ipc::ControlOp::kShutdown), 0, 0, 0});
  }
}

ipc::Status RunnerProcess::send_request(std::uint64_t request_id, std::span<const std::uint8_t> payload) noexcept {
  const auto sent = channel_->send_copy(request_id, payload);
  if (!sent) return sent.error();
  state = ipc::RunnerState::kBusy;
  return {};
}

bool RunnerProcess::readable() const noexcept { return channel_ && channel_->readable(); }

ipc::Doorbell* RunnerProcess::doorbell() noexcept { return channel_ ? &channel_->supervisor_doorbell() : nullptr; }

std::uint64_t RunnerProcess::guest_first_ready_ns() const noexcept {
  return channel_ ? ipc::runner_first_ready_ns(channel_->shm().data()) : 0;
}

std::optional<ipc::LoadCounters> RunnerProcess::guest_load_counters() const noexcept {
  return channel_ ? ipc::runner_load_counters(channel_->shm().data()) : std::nullopt;
}

}  // namespace snapfaas::supervisor
