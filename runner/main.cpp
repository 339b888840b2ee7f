// firerunner: the SnapFaaS VMM. Boots a vmlinux (serial console, virtio-blk rootfs/appfs) or a
// freestanding ring-3 test guest, and exits with the guest's status.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <memory>

#include "common/error.h"
#include "common/log.h"
#include "runner/restore_server.h"
#include "runner/seccomp/seccomp_filter.h"
#include "runner/snapshot/vmm_snapshot.h"
#include "runner/vmm.h"
#include "runner/window/restore_record_writer.h"
#include "runner/window/window_service.h"

int main(int argc, char** argv) {
  snapfaas::runner::VmmConfig config;
  std::string log_level;
  std::string channel;
  CLI::App app{"firerunner: boot one microVM (Linux vmlinux or ring-3 test guest)"};
  app.add_option("--kernel", config.kernel, "vmlinux (ELF) or ring-3 guest ELF")->required();
  app.add_option("--rootfs", config.rootfs, "raw root filesystem image (/dev/vda, read-only unless --rootfs_rw)");
  app.add_flag("--rootfs_rw", config.rootfs_rw, "attach the rootfs read-write (root mounted rw)");
  app.add_flag("--direct_io", config.direct_io, "open the disk images with O_DIRECT (no host page cache)");
  app.add_option("--appfs", config.appfs, "raw app filesystem image (/dev/vdb, read-only)");
  app.add_option("--mem_size", config.mem_mib, "guest RAM in MiB")->capture_default_str();
  app.add_option("--vcpu_count", config.vcpu_count, "number of vCPUs")->capture_default_str();
  app.add_option("--kernel_args", config.kernel_args, "extra Linux command-line arguments");
  app.add_option("--console", config.console, "write the guest console to FILE instead of stdout");
  app.add_flag("--ring3", config.ring3, "start the ELF at CPL3 with IOPL=3 (ring-3 test guest)");
  app.add_option("--timeout", config.timeout_s, "stop with an error (naming each vCPU's RIP) after S seconds");
  app.add_option("--network", config.network,
                 "attach virtio-net on tap TAP (in this network namespace) with guest MAC: TAP/MAC (docs/NETWORKING.md)");
  app.add_option("--guest_address", config.guest_address, "with --network: eth0's ADDR/PREFIX,GATEWAY (kernel ip=)")
      ->capture_default_str();
  app.add_option("--channel", channel, "serve ipc channel NAME through the guest ring window (ipc/guest_abi.h)");
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error (default $SNAPFAAS_LOG or info)");
  std::string snapshot_out;
  std::vector<std::string> load_dirs;
  std::vector<std::string> diff_dirs;
  snapfaas::runner::snapshot::RestoreOptions restore;
  app.add_option("--snapshot-out,--dump_dir", snapshot_out,
                 "at the guest's snapshot point, write a snapshot to DIR (a diff with --load_dir) and exit");
  app.add_option("--load_dir", load_dirs, "restore from snapshot dirs base[,diff...]")->delimiter(',');
  app.add_option("--diff_dirs", diff_dirs, "diff dirs applied after --load_dir (seed spelling)")->delimiter(',');
  app.add_flag("--copy_base", restore.eager_base, "read the base into anonymous memory instead of mapping it");
  app.add_flag("--copy_diff", restore.eager_diff, "read diffs into anonymous memory instead of mapping them");
  // Pre-spawned restore mode and seccomp (runner/restore_server.h, runner/seccomp/seccomp_filter.h).
  std::string functions_file;
  std::string test_hook;
  bool no_seccomp = false;
  bool seccomp_log = false;
  app.add_option("--functions", functions_file,
                 "pre-spawned restore mode: build the VM, wait for kRestore/kBoot on --channel (JSON table from the supervisor)");
  app.add_flag("--no_seccomp", no_seccomp, "do not install the seccomp filters (debugging only)");
  app.add_flag("--seccomp_log", seccomp_log, "")->group("");  // hidden: log instead of kill (finding syscall needs)
  app.add_option("--test_hook", test_hook, "")->group("");    // hidden: tests only (restore_server.h)
  CLI11_PARSE(app, argc, argv);
  const snapfaas::runner::SeccompSettings seccomp{
      !no_seccomp, seccomp_log ? snapfaas::runner::SeccompAction::kLog : snapfaas::runner::SeccompAction::kKill};
  load_dirs.insert(load_dirs.end(), diff_dirs.begin(), diff_dirs.end());
  config.dirty_log = !snapshot_out.empty();

  try {
    snapfaas::common::init_logging("firerunner", log_level);
    const snapfaas::runner::TestHook hook = snapfaas::runner::TestHook::parse(test_hook);
    if (!functions_file.empty()) {
      if (channel.empty() || !load_dirs.empty() || !snapshot_out.empty()) {
        throw snapfaas::common::Error("--functions needs --channel and excludes --load_dir/--dump_dir");
      }
      return snapfaas::runner::run_restore_server({config, channel, functions_file, seccomp, hook});
    }
    const auto created = std::chrono::steady_clock::now();
    snapfaas::runner::Vmm vmm(config);
    std::unique_ptr<snapfaas::runner::window::WindowService> window;
    snapfaas::runner::window::WindowServiceOptions window_options;
    window_options.control_thread_init = [seccomp] {
      snapfaas::runner::apply_seccomp(snapfaas::runner::ThreadRole::kControl, seccomp);
    };
    if (!channel.empty()) {
      window = std::make_unique<snapfaas::runner::window::WindowService>(channel, vmm, created, window_options);
    }
    std::optional<snapfaas::runner::snapshot::SnapshotId> base;
    if (!load_dirs.empty()) {
      if (!diff_dirs.empty() && load_dirs.size() == diff_dirs.size()) throw snapfaas::common::Error("--diff_dirs needs --load_dir");
      base = snapfaas::runner::snapshot::restore_vmm(vmm, load_dirs, restore, config.dirty_log);
      // A restored guest is a clone: fresh entropy and the host clock before its vCPUs run.
      if (window) (void)snapfaas::runner::window::publish_restore_record(window->channel());
    }
    // Ring-3 guests request snapshots on their own port; the agent through the window's
    // SNAPSHOT_POINT doorbell.
    // Seccomp before the first KVM_RUN: this thread's VMM filter is inherited by the snapshot
    // saver and the vCPU threads, created here (glibc's first thread creation installs a signal
    // handler, which the vCPU role does not allow); each vCPU thread adds its own vCPU filter.
    const auto vcpu_filter =
        snapfaas::runner::CompiledSeccomp::compile(snapfaas::runner::ThreadRole::kVcpu, seccomp);
    snapfaas::runner::apply_seccomp(snapfaas::runner::ThreadRole::kVmm, seccomp);
    hook.fire("forbidden_syscall", -1);
    std::optional<snapfaas::runner::snapshot::SnapshotPoint> point;
    point.emplace(vmm, snapshot_out, base, base.has_value(), true, vmm.ring3());
    if (window) window->ports().set_snapshot_hook([&point](std::uint32_t code) { point->request(code); });
    vmm.start_vcpus_parked([&vcpu_filter] { vcpu_filter.install(); });
    const int code = vmm.run();
    spdlog::debug("guest exited with status {}", code);
    return code;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "firerunner: %s\n", e.what());
    return 1;
  }
}
