// WindowService: channel + window + ports, and the boot-phase control thread.
#include "runner/window/window_service.h"

#include <spdlog/spdlog.h>

#include <string>

#include "common/error.h"

namespace snapfaas::runner::window {

namespace {
RingWindow map_window(const ipc::RunnerChannel& channel, Vmm& vmm) {
  common::UniqueFd fd = channel.shm().dup_fd();
  return RingWindow::map(fd.get(), channel.layout(), vmm.vm());  // the mapping outlives the fd
}
}  // namespace

WindowService::WindowService(std::string_view channel_name, Vmm& vmm, WindowPorts::Clock::time_point created)
    : channel_(ipc::RunnerChannel::open(channel_name)), window_(map_window(channel_, vmm)), vmm_(vmm) {
  WindowHooks hooks;
  hooks.stop = [&vmm](int code, const std::string& error) { vmm.request_stop(code, error); };
  ports_ = std::make_shared<WindowPorts>(channel_, window_, std::move(hooks), created);
  vmm_.pio().insert(ports_, ipc::kPortFirst, ipc::kPortCount);
  vmm_.add_stop_hook([ports = ports_] { ports->stop(); });
  spdlog::info("ring window: channel {} at GPA {:#x}, {} bytes, header page {}", channel_name, ipc::kWindowGpa,
               window_.layout().size, window_.header_readonly() ? "read-only" : "read-write");
  control_thread_ = std::thread([this] { boot_control_loop(); });
}

WindowService::~WindowService() {
  ports_->stop();
  if (control_thread_.joinable()) control_thread_.join();
}

void WindowService::boot_control_loop() noexcept {
  // Until the guest's first WAIT nobody parks on the runner doorbell: poll the control ring (a
  // kShutdown before that stops the VM at once). From the first WAIT on, WAIT drains it.
  while (!ports_->stopped() && !ports_->guest_waited()) {
    ports_->drain_control();
    if (ports_->shutdown_requested() && !ports_->guest_waited()) {
      spdlog::info("ring window: shutdown before the guest's first WAIT: stopping the VM");
      vmm_.request_stop(0);
      return;
    }
    std::this_thread::sleep_for(kBootPollInterval);
  }
}

}  // namespace snapfaas::runner::window
