// fc_wrapper: one firerunner, requests on stdin (seed JSON lines), responses on stdout, timing on
// stderr. Creates the channel (named after --id), launches firerunner with `--channel NAME`,
// measures VM creation (kPing answered) and boot to first WAIT (kPing kPingGuestReady answered),
// pumps requests, then sends kShutdown and waits for firerunner to exit. With --dump_dir it only
// waits for firerunner to write the snapshot and exit; with --load_dir the VM is restored, with
// --load_ws its working set prefetched, and with --dump_ws the working set of the first request is
// recorded (ControlOp::kDumpWorkingSet once its response is out). After the requests it prints
// KVM's page faults and exits from the VM's load to its first response (ipc/runner_times.h), as
// the supervisor's cold-request figures count them.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"
#include "common/runner_command.h"
#include "ipc/channel.h"
#include "ipc/guest_abi.h"
#include "ipc/runner_times.h"
#include "wrapper/firerunner_process.h"
#include "wrapper/request_pump.h"

namespace {

using namespace snapfaas;
using Clock = std::chrono::steady_clock;
// The most fc_wrapper waits after the last answer for the runner to publish the load's KVM counts.
constexpr std::chrono::milliseconds kCountersWait{200};

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

/// Sends `command` and waits for its reply while the runner lives. Throws common::Error.
ipc::ControlReply control(ipc::SupervisorChannel& channel, wrapper::FirerunnerProcess& runner,
                          const ipc::ControlCommand& command, std::chrono::milliseconds timeout, const char* what) {
  if (!channel.send_control(command)) throw common::Error(std::string(what) + ": control ring full");
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    ipc::WaitOptions wait;
    wait.deadline = std::min(deadline, Clock::now() + std::chrono::milliseconds(50));
    ipc::Result<ipc::ControlReply> reply = channel.control_reply(wait);
    if (reply && reply->command_id == command.command_id) {
      if (reply->status != 0) {
        throw common::Error(std::string(what) + ": runner replied " + ipc::control_result_text(reply->status) +
                            " (status " + std::to_string(reply->status) + ")");
      }
      return *reply;
    }
    if (!reply && reply.error() != ipc::IpcError::kTimedOut && reply.error() != ipc::IpcError::kRingEmpty) {
      throw common::Error(std::string(what) + ": " + ipc::to_string(reply.error()));
    }
    if (const std::optional<int> status = runner.poll()) {
      throw common::Error(std::string(what) + ": firerunner exited with status " + std::to_string(*status));
    }
    if (Clock::now() >= deadline) {
      throw common::Error(std::string(what) + ": no reply within " + std::to_string(timeout.count()) + " ms");
    }
  }
}

/// --dump_dir: firerunner saves at the agent's snapshot point and exits by itself.
int wait_for_snapshot(wrapper::FirerunnerProcess& runner, const std::string& dir, std::chrono::milliseconds timeout,
                      Clock::time_point start) {
  const std::optional<int> status = runner.wait_for(timeout);
  if (!status) {
    std::fprintf(stderr, "fc_wrapper: no snapshot within %lld ms: firerunner killed\n",
                 static_cast<long long>(timeout.count()));
    runner.kill();
    return 1;
  }
  std::error_code ec;
  if (*status != 0 || !std::filesystem::exists(std::filesystem::path(dir) / "state", ec)) {
    std::fprintf(stderr, "fc_wrapper: snapshot generation failed (firerunner exit status %d)\n", *status);
    return 1;
  }
  std::fprintf(stderr, "fc_wrapper: snapshot_ms=%.3f\n", ms_since(start));
  std::printf("Snapshot generation succeeds\n");
  return 0;
}

std::string default_firerunner() {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "firerunner";
  return (self.parent_path().parent_path() / "runner" / "firerunner").string();
}

}  // namespace

int main(int argc, char** argv) {
  std::string id = "0", firerunner = default_firerunner();
  unsigned slot_kib = ipc::kDefaultSlotSize / 1024;
  unsigned timeout_ms = 30'000, boot_timeout_ms = 120'000, shutdown_timeout_ms = 30'000;

  CLI::App app{"fc_wrapper: run requests (JSON lines on stdin) through one firerunner microVM"};
  // The VM's flags are firerunner's own (common/runner_command.h), passed through.
  common::RunnerCommand vm;
  common::add_runner_options(app, vm, common::RunnerFlags::kVmOnly);
  app.add_option("--id", id, "VM id (names the channel)")->capture_default_str();
  app.add_option("--firerunner", firerunner, "firerunner binary")->capture_default_str()->check(CLI::ExistingFile);
  app.add_option("--slot_kib", slot_kib, "payload slot size in KiB (request and response limit)")
      ->capture_default_str()->check(CLI::Range(4u, ipc::kMaxSlotSize / 1024));
  app.add_option("--timeout_ms", timeout_ms, "per-request timeout")->capture_default_str();
  app.add_option("--boot_timeout_ms", boot_timeout_ms, "VM creation + boot to first WAIT timeout")
      ->capture_default_str();
  app.add_option("--shutdown_timeout_ms", shutdown_timeout_ms, "wait this long for firerunner to exit")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  for (const std::string* image : {&vm.kernel, &vm.rootfs, &vm.appfs}) {
    std::error_code ec;
    if (!image->empty() && !std::filesystem::is_regular_file(*image, ec)) {
      std::fprintf(stderr, "fc_wrapper: %s: no such file\n", image->c_str());
      return 2;
    }
  }
  if (!vm.diff_dirs.empty() && vm.load_dirs.empty()) {
    std::fprintf(stderr, "fc_wrapper: --diff_dirs needs --load_dir\n");
    return 2;
  }
  if (slot_kib % 4 != 0) {
    std::fprintf(stderr, "fc_wrapper: --slot_kib must be a multiple of 4\n");
    return 2;
  }
  if ((!vm.dump_ws.empty() || !vm.load_ws.empty()) && vm.load_dirs.empty()) {
    std::fprintf(stderr, "fc_wrapper: --dump_ws and --load_ws need --load_dir (a restored VM)\n");
    return 2;
  }
  if (!vm.dump_ws.empty() && !vm.dump_dir.empty()) {
    std::fprintf(stderr, "fc_wrapper: --dump_ws excludes --dump_dir\n");
    return 2;
  }
  if (std::error_code ec; !vm.load_ws.empty() && !std::filesystem::is_regular_file(vm.load_ws, ec)) {
    std::fprintf(stderr, "fc_wrapper: --load_ws %s: no such file\n", vm.load_ws.c_str());
    return 2;
  }
  const bool restore = !vm.load_dirs.empty();
  const std::string dump_dir = vm.dump_dir;

  try {
    const std::string name = "/snapfaas-fcw-" + id + "-" + std::to_string(::getpid());
    ipc::SupervisorChannel channel = ipc::SupervisorChannel::create(name, {.slot_size = slot_kib * 1024});
    vm.channel = name;
    const std::vector<std::string> args = common::runner_args(vm);

    const auto start = Clock::now();
    wrapper::FirerunnerProcess runner = wrapper::FirerunnerProcess::spawn(firerunner, args);
    const std::chrono::milliseconds boot_timeout(boot_timeout_ms);
    (void)control(channel, runner, {1, static_cast<std::uint32_t>(ipc::ControlOp::kPing), 0, 0, 0}, boot_timeout,
                  "VM creation");
    std::fprintf(stderr, "fc_wrapper: vm_creation_ms=%.3f\n", ms_since(start));
    if (!dump_dir.empty()) return wait_for_snapshot(runner, dump_dir, boot_timeout, start);
    const auto booted = Clock::now();
    (void)control(channel, runner,
                  {2, static_cast<std::uint32_t>(ipc::ControlOp::kPing), ipc::kPingGuestReady, 0, 0}, boot_timeout,
                  "boot to first WAIT");
    std::fprintf(stderr, "fc_wrapper: %s_to_first_wait_ms=%.3f\n", restore ? "restore" : "boot",
                 ms_since(booted));

    std::function<void()> after_first;
    if (!vm.dump_ws.empty()) {
      // The pages the guest touched from the restore through its first request: what the next
      // restore prefetches (--load_ws).
      after_first = [&] {
        const auto t0 = Clock::now();
        const ipc::ControlReply reply =
            control(channel, runner, {4, static_cast<std::uint32_t>(ipc::ControlOp::kDumpWorkingSet), 0, 0, 0},
                    boot_timeout, "--dump_ws");
        std::fprintf(stderr, "fc_wrapper: working_set_pages=%llu dump_ws_ms=%.3f (%s)\n",
                     static_cast<unsigned long long>(reply.value), ms_since(t0), vm.dump_ws.c_str());
      };
    }
    wrapper::RequestPump pump(channel, {.timeout = std::chrono::milliseconds(timeout_ms),
                                       .peer_alive = [&runner] { return !runner.poll().has_value(); },
                                       .after_first = std::move(after_first)});
    const std::uint64_t lines = pump.run(std::cin, std::cout, std::cerr);
    std::fprintf(stderr, "fc_wrapper: %llu requests answered\n", static_cast<unsigned long long>(lines));
    // Published by the runner at the guest's first WAIT after a response, which may come just after
    // the response was taken here: a short bounded wait (none when no line came in).
    std::optional<ipc::LoadCounters> counted = ipc::runner_load_counters(channel.shm().data());
    for (const auto give_up = Clock::now() + kCountersWait; lines != 0 && !counted && Clock::now() < give_up;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      counted = ipc::runner_load_counters(channel.shm().data());
    }
    if (counted) {
      std::fprintf(stderr, "fc_wrapper: load_to_first_response_page_faults=%llu load_to_first_response_exits=%llu\n",
                   static_cast<unsigned long long>(counted->page_faults),
                   static_cast<unsigned long long>(counted->exits));
    }

    int status = 0;
    if (!runner.poll()) {
      if (!channel.send_control({3, static_cast<std::uint32_t>(ipc::ControlOp::kShutdown), 0, 0, 0})) {
        std::fprintf(stderr, "fc_wrapper: control ring full: cannot send shutdown\n");
      }
    }
    if (const std::optional<int> exited = runner.wait_for(std::chrono::milliseconds(shutdown_timeout_ms))) {
      status = *exited;
    } else {
      std::fprintf(stderr, "fc_wrapper: firerunner did not exit within %u ms: killed\n", shutdown_timeout_ms);
      runner.kill();
      return 1;
    }
    if (status != 0) {
      std::fprintf(stderr, "fc_wrapper: firerunner exited with status %d\n", status);
      return 1;
    }
    std::fprintf(stderr, "fc_wrapper: total_ms=%.3f\n", ms_since(start));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fc_wrapper: %s\n", e.what());
    return 1;
  }
}
