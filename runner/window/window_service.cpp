// WindowService: channel + window + ports, and the boot-phase control thread.
#include "runner/window/window_service.h"

#include <spdlog/spdlog.h>

#include <exception>
#include <string>

#include "common/error.h"

namespace snapfaas::runner::window {

namespace {
RingWindow map_window(const ipc::RunnerChannel& channel, Vmm& vmm, bool allow_writable_header) {
  common::UniqueFd fd = channel.shm().dup_fd();
  return RingWindow::map(fd.get(), channel.layout(), vmm.vm(),  // the mapping outlives the fd
                         allow_writable_header ? HeaderPolicy::kWritableIfRefused : HeaderPolicy::kReadOnly);
}
}  // namespace

WindowService::WindowService(std::string_view channel_name, Vmm& vmm, WindowPorts::Clock::time_point created,
                             WindowServiceOptions options)
    : channel_(ipc::RunnerChannel::open(channel_name)), window_(map_window(channel_, vmm, options.allow_writable_header)), vmm_(vmm),
      options_(std::move(options)), control_bell_(channel_.runner_doorbell().word()) {
  WindowHooks hooks;
  hooks.stop = [&vmm](int code, const std::string& error) { vmm.request_stop(code, error); };
  hooks.counters = [&vmm] { return vmm.vcpu_counters(); };
  if (options_.serve_loads) {
    hooks.on_load = [loads = loads_](const ipc::ControlCommand& command) { loads->push(command); };
  }
  ports_ = std::make_shared<WindowPorts>(channel_, std::move(hooks), created);
  if (options_.serve_loads) ports_->mark_runner_ready();
  vmm_.pio().insert(ports_, ipc::kPortFirst, ipc::kPortCount);
  vmm_.add_stop_hook([ports = ports_, loads = loads_] {
    ports->stop();
    loads->close();
  });
  spdlog::info("ring window: channel {} at GPA {:#x}, {} bytes, header page {}", channel_name, ipc::kWindowGpa,
               window_.layout().size, window_.header_readonly() ? "read-only" : "read-write");
}

void WindowService::start_control_thread() {
  if (!control_thread_.joinable()) control_thread_ = std::thread([this] { boot_control_loop(); });
}

WindowService::~WindowService() {
  ports_->stop();
  loads_->close();
  if (control_thread_.joinable()) control_thread_.join();
}

void WindowService::LoadQueue::push(const ipc::ControlCommand& command) {
  std::lock_guard lock(mutex);
  commands.push_back(command);
}

void WindowService::LoadQueue::close() noexcept {
  std::lock_guard lock(mutex);
  closed = true;
}

std::optional<ipc::ControlCommand> WindowService::wait_load_command() {
  // The boot-phase control loop, on the VMM thread, until a load command came: draining answers
  // pings and queues kBoot/kRestore (hooks.on_load); kShutdown ends the wait.
  auto ready = [this] { return ports_->stopped() || ports_->control_readable(); };
  for (;;) {
    ports_->drain_control();
    {
      std::lock_guard lock(loads_->mutex);
      if (!loads_->commands.empty()) {
        const ipc::ControlCommand command = loads_->commands.front();
        loads_->commands.pop_front();
        return command;
      }
      if (loads_->closed) return std::nullopt;
    }
    if (ports_->stopped() || ports_->shutdown_requested()) {
      spdlog::info("ring window: shutdown before any load");
      loads_->close();
      return std::nullopt;
    }
    ipc::WaitOptions wait;
    wait.spin = std::chrono::microseconds(0);  // idle pre-spawned runners must not burn CPU
    wait.deadline = ipc::WaitOptions::Clock::now() + kControlParkBackstop;
    (void)control_bell_.wait(ready, wait);  // kTimedOut: loop and re-check
  }
}

void WindowService::boot_control_loop() noexcept {
  if (options_.control_thread_init) {
    try {
      options_.control_thread_init();
    } catch (const std::exception& e) {
      vmm_.request_stop(1, std::string("ring window control thread: ") + e.what());
      loads_->close();
      return;
    }
  }
  // Until the guest's first WAIT nobody else parks on the runner doorbell: wait on it for control
  // commands (the supervisor rings it after each push; a kShutdown before that stops the VM at
  // once). From the first WAIT on (which wakes this thread), WAIT drains the control ring.
  auto ready = [this] { return ports_->stopped() || ports_->guest_waited() || ports_->control_readable(); };
  while (!ports_->stopped() && !ports_->guest_waited()) {
    ports_->drain_control();
    if (ports_->shutdown_requested() && !ports_->guest_waited()) {
      spdlog::info("ring window: shutdown before the guest's first WAIT: stopping the VM");
      vmm_.request_stop(0);
      loads_->close();
      return;
    }
    ipc::WaitOptions wait;
    wait.spin = std::chrono::microseconds(0);  // nothing to spin for: commands are rare
    wait.deadline = ipc::WaitOptions::Clock::now() + kControlParkBackstop;
    (void)control_bell_.wait(ready, wait);  // kTimedOut: loop and re-check
  }
}

}  // namespace snapfaas::runner::window
