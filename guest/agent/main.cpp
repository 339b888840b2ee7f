// snapfaas-agent: the guest agent. Maps the ring window, signals the snapshot points, imports the
// function (handler.handle from /srv) into embedded CPython and serves requests until shutdown.
// Guest mode (default): window from /dev/mem at kWindowGpa, port-I/O doorbells (iopl(3)), app
// image /dev/vdb mounted at /srv after the base snapshot point.
// Host test mode: --window-file /dev/shm/NAME --channel-region --doorbell futex.
// The process forks once before CPython starts: the parent is the reaper (guest/agent/reaper.h),
// which answers the in-flight request when the serving child dies and then stops the VM.
#include <CLI/CLI.hpp>

#include <unistd.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "guest/agent/agent.h"
#include "guest/agent/agent_failure.h"
#include "guest/agent/agent_log.h"
#include "guest/agent/appfs.h"
#include "guest/agent/futex_doorbell.h"
#include "guest/agent/port_io_doorbell.h"
#include "guest/agent/python_runtime.h"
#include "guest/agent/reaper.h"
#include "guest/agent/restore_watcher.h"
#include "guest/agent/window.h"

namespace {

using snapfaas::guest::AgentFailure;
using snapfaas::guest::LogLevel;
using snapfaas::ipc::AgentFatal;

}  // namespace

int main(int argc, char** argv) {
  snapfaas::guest::WindowSource source;
  std::string doorbell_kind = "port";
  std::string module_dir = "/srv";
  std::string module = "handler";
  std::string function = "handle";
  std::string appfs = "/dev/vdb";
  unsigned spin_us = 50;
  bool verbose = false;
  bool no_reaper = false;

  CLI::App app{"snapfaas-agent: serve handle(request) from the ring window"};
  app.add_option("--window-file", source.path, "file holding the window")->capture_default_str();
  app.add_option("--window-offset", source.offset, "file offset of the window (page-aligned)")
      ->capture_default_str();
  app.add_flag("--channel-region", source.channel_region,
               "the file holds a whole channel region (host tests): map the guest's view of it");
  app.add_option("--doorbell", doorbell_kind, "port (guest: port I/O) or futex (host tests)")
      ->check(CLI::IsMember({"port", "futex"}))
      ->capture_default_str();
  app.add_option("--module-dir", module_dir, "directory holding the function module")->capture_default_str();
  app.add_option("--module", module, "function module name")->capture_default_str();
  app.add_option("--function", function, "function name in the module")->capture_default_str();
  app.add_option("--appfs", appfs,
                 "guest mode: app image device mounted at --module-dir after the base snapshot point (empty: none)")
      ->capture_default_str();
  app.add_option("--spin-us", spin_us, "poll the request ring this long before parking on WAIT")
      ->capture_default_str();
  app.add_flag("-v,--verbose", verbose, "debug log lines");
  app.add_flag("--no-reaper", no_reaper, "serve in this process (a dying runtime then goes unanswered)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : static_cast<int>(AgentFatal::kUsage);
  }
  if (verbose) snapfaas::guest::log_threshold() = LogLevel::kDebug;

  const bool futex = doorbell_kind == "futex";
  std::unique_ptr<snapfaas::guest::AgentDoorbell> doorbell;
  // Ports are only touched once a valid window header proved we run under a SnapFaaS runner: an
  // agent started by mistake on a host (as root) must not write to real I/O ports.
  bool window_valid = false;
  try {
    if (futex) {
      snapfaas::guest::install_stop_handlers();
      source.writable_header = true;  // the futex doorbell words live in the header page
    } else {
      doorbell = snapfaas::guest::PortIoDoorbell::create();  // iopl(3) first: refused means not our guest
    }
    std::optional<snapfaas::guest::Window> window(snapfaas::guest::Window::map(source));
    window_valid = true;
    if (futex) doorbell = std::make_unique<snapfaas::guest::FutexDoorbell>(*window, snapfaas::guest::stop_flag());

    snapfaas::guest::InFlightPage in_flight = snapfaas::guest::InFlightPage::create();
    if (!no_reaper) {
      std::fflush(stdout);
      std::fflush(stderr);
      const pid_t reaper = ::getpid();
      const pid_t child = ::fork();
      if (child < 0) throw AgentFailure(AgentFatal::kPythonInit, "fork of the serving process failed");
      if (child > 0) {
        snapfaas::guest::ReaperContext context;
        context.source = source;
        context.guest = !futex;
        context.memory_hint_mib = static_cast<std::uint32_t>(
            static_cast<std::uint64_t>(::sysconf(_SC_PHYS_PAGES)) * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)) >> 20);
        context.make_doorbell = [futex](const snapfaas::guest::Window& w) -> std::unique_ptr<snapfaas::guest::AgentDoorbell> {
          if (futex) return std::make_unique<snapfaas::guest::FutexDoorbell>(w, snapfaas::guest::stop_flag());
          return snapfaas::guest::PortIoDoorbell::create();
        };
        window.reset();  // the reaper maps the window anew when it needs it
        return snapfaas::guest::run_reaper(child, in_flight, context);
      }
      snapfaas::guest::child_after_fork(reaper);
      if (futex) snapfaas::guest::install_stop_handlers();
    }
    // Guest mode: the kernel CRNG and the clock are the guest's own to refresh after a restore.
    snapfaas::guest::RestoreWatcher restore(!futex);

    int code = 0;
    {
      const std::unique_ptr<snapfaas::guest::PythonRuntime> python = snapfaas::guest::PythonRuntime::start();
      doorbell->snapshot_point(snapfaas::ipc::SnapshotPoint::kBase);
      // Restored from the base (a diff being built): fresh entropy before the function's import.
      (void)snapfaas::guest::apply_restore(restore, *python, window->header_page());
      // Everything before this point is the runtime base snapshot, shared by all functions; the
      // app image is attached per function, so it is mounted only now.
      if (!futex && !appfs.empty() && ::access(appfs.c_str(), F_OK) == 0) {
        snapfaas::guest::mount_appfs(appfs, module_dir, std::chrono::seconds(2));
      }
      python->import_handler(module_dir, module, function);
      doorbell->snapshot_point(snapfaas::ipc::SnapshotPoint::kDiff);
      if (!futex && !window->same_layout()) {
        // A restored agent serves another channel than the one it was snapshotted with, whose
        // layout (slot count and size, ring capacities, window size) may differ: then map it anew.
        // The same layout is served by the mapping as it is (the window's guest-physical address
        // is fixed), and a remap costs page-table work that the emulated host's shadow paging
        // made 25-48 ms of a cold start.
        window.reset();
        window.emplace(snapfaas::guest::Window::map(source));
      }
      // Restored from the function's diff: the clone's entropy, clock and runtime generators.
      (void)snapfaas::guest::apply_restore(restore, *python, window->header_page());
      snapfaas::guest::log(LogLevel::kDebug, "window %s+0x%llx: %u slots of %u bytes", source.path.c_str(),
                           static_cast<unsigned long long>(source.offset), window->slot_count(), window->slot_size());
      snapfaas::guest::Agent agent(*window, *doorbell, *python,
                                   {.spin = std::chrono::microseconds(spin_us),
                                    .in_flight = no_reaper ? nullptr : &in_flight,
                                    .restore = &restore});
      code = agent.run();
    }
    std::fflush(stdout);
    return code;
  } catch (const AgentFailure& e) {
    snapfaas::guest::log(LogLevel::kError, "%s", e.what());
    if (doorbell && window_valid) doorbell->fatal(e.code());
    return static_cast<int>(e.code());
  }
}
