// WindowService: `firerunner --channel NAME` — opens RunnerChannel NAME, maps its ring window into
// the VM, puts WindowPorts on the PIO bus and answers control commands until the guest's first
// WAIT (afterwards WAIT drains them). Built after the Vmm and before Vmm::run().
#pragma once

#include <chrono>
#include <memory>
#include <string_view>
#include <thread>

#include "ipc/channel.h"
#include "runner/vmm.h"
#include "runner/window/ring_window.h"
#include "runner/window/window_ports.h"

namespace snapfaas::runner::window {

class WindowService {
 public:
  /// How often control commands are polled before the guest's first WAIT (boot phase only).
  static constexpr std::chrono::milliseconds kBootPollInterval{1};

  /// Opens the channel, maps the window, inserts the ports and registers a stop hook on `vmm`.
  /// `created`: when VM creation started (kPing values are ns since then). Throws common::Error.
  WindowService(std::string_view channel_name, Vmm& vmm, WindowPorts::Clock::time_point created);
  ~WindowService();
  WindowService(const WindowService&) = delete;
  WindowService& operator=(const WindowService&) = delete;

  [[nodiscard]] WindowPorts& ports() noexcept { return *ports_; }
  [[nodiscard]] const RingWindow& window() const noexcept { return window_; }

 private:
  void boot_control_loop() noexcept;

  ipc::RunnerChannel channel_;
  RingWindow window_;
  std::shared_ptr<WindowPorts> ports_;
  Vmm& vmm_;
  std::thread control_thread_;
};

}  // namespace snapfaas::runner::window
