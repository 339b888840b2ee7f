// WindowService: `firerunner --channel NAME` — opens RunnerChannel NAME, maps its ring window into
// the VM, puts WindowPorts on the PIO bus; its control thread (start_control_thread, once the
// runner locked itself down) answers control commands until the guest's first WAIT (afterwards
// WAIT drains them). Built after the Vmm and before Vmm::run(). In pre-spawned restore mode the
// VMM thread answers them itself until kBoot/kRestore arrives (wait_load_command), and the control
// thread takes over after the load.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>

#include "ipc/channel.h"
#include "runner/vmm.h"
#include "runner/window/ring_window.h"
#include "runner/window/window_ports.h"

namespace snapfaas::runner::window {

struct WindowServiceOptions {
  /// Pre-spawned restore mode: kBoot/kRestore are queued for wait_load_command() instead of being
  /// answered kBootedAtSpawn (kBoot) or kUnsupported (kRestore), and kPingGuestReady is answered
  /// at once (the VM waits for its snapshot).
  bool serve_loads = false;
  /// Runs first on the control thread (e.g. installs its seccomp filter). May throw: the VM is
  /// then stopped with that error.
  std::function<void()> control_thread_init;
  /// Map the channel header page writable when KVM refuses KVM_MEM_READONLY (firerunner
  /// --allow_writable_header; debugging only). Otherwise the window, and the runner, are refused.
  bool allow_writable_header = false;
};

class WindowService {
 public:
  /// Backstop for the control thread's park on the runner doorbell (it is woken by every control
  /// command the supervisor pushes, by the guest's first WAIT and by stop()).
  static constexpr std::chrono::milliseconds kControlParkBackstop{200};

  /// Opens the channel, maps the window, inserts the ports and registers a stop hook on `vmm`.
  /// `created`: when VM creation started (kPing values are ns since then). Throws common::Error.
  WindowService(std::string_view channel_name, Vmm& vmm, WindowPorts::Clock::time_point created,
                WindowServiceOptions options = {});
  ~WindowService();
  WindowService(const WindowService&) = delete;
  WindowService& operator=(const WindowService&) = delete;

  [[nodiscard]] WindowPorts& ports() noexcept { return *ports_; }
  [[nodiscard]] const RingWindow& window() const noexcept { return window_; }
  /// The runner end of the channel (e.g. for publish_restore_record).
  [[nodiscard]] const ipc::RunnerChannel& channel() const noexcept { return channel_; }

  /// serve_loads only, VMM thread: blocks until the supervisor sends kBoot/kRestore (returned; answer
  /// it with ports().reply_control) or asks for shutdown / the VM stops (nullopt).
  /// The waiting thread itself drains the control ring meanwhile (parked on the runner doorbell).
  [[nodiscard]] std::optional<ipc::ControlCommand> wait_load_command();
  /// Starts the control thread that answers control commands until the guest's first WAIT; it
  /// runs control_thread_init first. Call once the runner locked itself down (serve_loads: after
  /// the load), before Vmm::run. Idempotent.
  void start_control_thread();

 private:
  /// kBoot/kRestore queued by the control-ring drainer (wait_load_command's own drain, on the VMM
  /// thread) until wait_load_command returns them. Shared with the Vmm's stop hook, which may
  /// outlive this service (it closes the queue; the waiter sees ports().stopped()).
  struct LoadQueue {
    std::mutex mutex;
    std::deque<ipc::ControlCommand> commands;  // guarded by mutex
    bool closed = false;                       // guarded by mutex: shutdown or VM stopping
    void push(const ipc::ControlCommand& command);
    void close() noexcept;
  };

  void boot_control_loop() noexcept;

  ipc::RunnerChannel channel_;
  RingWindow window_;
  std::shared_ptr<WindowPorts> ports_;
  Vmm& vmm_;
  WindowServiceOptions options_;
  ipc::Doorbell control_bell_;  // the runner doorbell word, this thread's own spin statistics

  std::shared_ptr<LoadQueue> loads_ = std::make_shared<LoadQueue>();

  std::thread control_thread_;
};

}  // namespace snapfaas::runner::window
