// fc_wrapper: one firerunner, requests on stdin (seed JSON lines), responses on stdout, timing on
// stderr. Creates the channel (named after --id), launches firerunner with `--channel NAME`,
// measures VM creation (kPing answered) and boot to first WAIT (kPing kPingGuestReady answered),
// pumps requests, then sends kShutdown and waits for firerunner to exit. With --dump_dir it only
// waits for firerunner to write the snapshot and exit; with --load_dir the VM is restored.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "ipc/channel.h"
#include "ipc/guest_abi.h"
#include "wrapper/firerunner_process.h"
#include "wrapper/request_pump.h"

namespace {

using namespace snapfaas;
using Clock = std::chrono::steady_clock;

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

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : ",") + p;
  return out;
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
  std::string kernel, rootfs, appfs, kernel_args, id = "0", firerunner = default_firerunner();
  unsigned mem_size = 128, vcpu_count = 1, slot_kib = ipc::kDefaultSlotSize / 1024;
  unsigned timeout_ms = 30'000, boot_timeout_ms = 120'000, shutdown_timeout_ms = 30'000;

  CLI::App app{"fc_wrapper: run requests (JSON lines on stdin) through one firerunner microVM"};
  app.add_option("--kernel", kernel, "guest kernel (vmlinux)")->required()->check(CLI::ExistingFile);
  app.add_option("--rootfs", rootfs, "root filesystem image")->check(CLI::ExistingFile);
  app.add_option("--appfs", appfs, "app filesystem image (handler.py)")->check(CLI::ExistingFile);
  app.add_option("--mem_size", mem_size, "guest RAM in MiB")->capture_default_str();
  app.add_option("--vcpu_count", vcpu_count, "vCPUs")->capture_default_str();
  app.add_option("--kernel_args", kernel_args, "extra kernel command-line arguments");
  std::string network, guest_address;
  app.add_option("--network", network, "TAP/MAC: virtio-net on that tap (passed to firerunner; docs/NETWORKING.md)");
  app.add_option("--guest_address", guest_address, "with --network: eth0's ADDR/PREFIX,GATEWAY (firerunner's default)");
  app.add_option("--id", id, "VM id (names the channel)")->capture_default_str();
  app.add_option("--firerunner", firerunner, "firerunner binary")->capture_default_str()->check(CLI::ExistingFile);
  app.add_option("--slot_kib", slot_kib, "payload slot size in KiB (request and response limit)")
      ->capture_default_str()->check(CLI::Range(4u, ipc::kMaxSlotSize / 1024));
  app.add_option("--timeout_ms", timeout_ms, "per-request timeout")->capture_default_str();
  app.add_option("--boot_timeout_ms", boot_timeout_ms, "VM creation + boot to first WAIT timeout")
      ->capture_default_str();
  app.add_option("--shutdown_timeout_ms", shutdown_timeout_ms, "wait this long for firerunner to exit")
      ->capture_default_str();
  std::string dump_dir;
  std::vector<std::string> load_dirs, diff_dirs;
  bool copy_base = false, copy_diff = false;
  app.add_option("--dump_dir", dump_dir,
                 "write a snapshot to DIR at the agent's snapshot point and exit: a base after a boot, a diff "
                 "with --load_dir");
  app.add_option("--load_dir", load_dirs, "restore from snapshot dirs base[,diff...] instead of booting")
      ->delimiter(',');
  app.add_option("--diff_dirs", diff_dirs, "diff dirs applied after --load_dir (seed spelling)")->delimiter(',');
  app.add_flag("--copy_base", copy_base, "read the base snapshot into anonymous memory instead of mapping it");
  app.add_flag("--copy_diff", copy_diff, "read diff snapshots into anonymous memory instead of mapping them");
  CLI11_PARSE(app, argc, argv);
  if (!diff_dirs.empty() && load_dirs.empty()) {
    std::fprintf(stderr, "fc_wrapper: --diff_dirs needs --load_dir\n");
    return 2;
  }
  load_dirs.insert(load_dirs.end(), diff_dirs.begin(), diff_dirs.end());
  if (slot_kib % 4 != 0) {
    std::fprintf(stderr, "fc_wrapper: --slot_kib must be a multiple of 4\n");
    return 2;
  }

  try {
    const std::string name = "/snapfaas-fcw-" + id + "-" + std::to_string(::getpid());
    ipc::SupervisorChannel channel = ipc::SupervisorChannel::create(name, {.slot_size = slot_kib * 1024});

    std::vector<std::string> args = {"--kernel", kernel, "--mem_size", std::to_string(mem_size), "--vcpu_count",
                                     std::to_string(vcpu_count), "--channel", name};
    if (!rootfs.empty()) args.insert(args.end(), {"--rootfs", rootfs});
    if (!appfs.empty()) args.insert(args.end(), {"--appfs", appfs});
    if (!kernel_args.empty()) args.insert(args.end(), {"--kernel_args", kernel_args});
    if (!network.empty()) args.insert(args.end(), {"--network", network});
    if (!guest_address.empty()) args.insert(args.end(), {"--guest_address", guest_address});
    if (!dump_dir.empty()) args.insert(args.end(), {"--dump_dir", dump_dir});
    if (!load_dirs.empty()) args.insert(args.end(), {"--load_dir", join(load_dirs)});
    if (copy_base) args.emplace_back("--copy_base");
    if (copy_diff) args.emplace_back("--copy_diff");

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
    std::fprintf(stderr, "fc_wrapper: %s_to_first_wait_ms=%.3f\n", load_dirs.empty() ? "boot" : "restore",
                 ms_since(booted));

    wrapper::RequestPump pump(channel, {.timeout = std::chrono::milliseconds(timeout_ms),
                                       .peer_alive = [&runner] { return !runner.poll().has_value(); }});
    const std::uint64_t lines = pump.run(std::cin, std::cout, std::cerr);
    std::fprintf(stderr, "fc_wrapper: %llu requests answered\n", static_cast<unsigned long long>(lines));

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
