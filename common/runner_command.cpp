// firerunner's command line (see runner_command.h).
#include "common/runner_command.h"

#include <sstream>

namespace snapfaas::common {
namespace {

[[nodiscard]] std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : ",") + p;
  return out;
}

[[nodiscard]] std::string number(double value) {
  std::ostringstream out;
  out.precision(17);
  out << value;
  return out.str();
}

}  // namespace

std::vector<std::string> RunnerCommand::snapshot_layers() const {
  std::vector<std::string> layers = load_dirs;
  layers.insert(layers.end(), diff_dirs.begin(), diff_dirs.end());
  return layers;
}

void add_runner_options(CLI::App& app, RunnerCommand& c, RunnerFlags flags) {
  const bool all = flags == RunnerFlags::kAll;
  app.add_option("--kernel", c.kernel, "vmlinux (ELF) or ring-3 guest ELF")->required();
  app.add_option("--rootfs", c.rootfs, "raw root filesystem image (/dev/vda, read-only unless --rootfs_rw)");
  app.add_flag("--rootfs_rw", c.rootfs_rw, "attach the rootfs read-write (root mounted rw)");
  app.add_flag("--direct_io", c.direct_io, "open the disk images with O_DIRECT (no host page cache)");
  app.add_option("--appfs", c.appfs, "raw app filesystem image (/dev/vdb, read-only)");
  app.add_option("--mem_size", c.mem_mib, "guest RAM in MiB")->capture_default_str();
  app.add_option("--vcpu_count", c.vcpu_count, "number of vCPUs")->capture_default_str();
  app.add_option("--kernel_args", c.kernel_args, "extra Linux command-line arguments");
  app.add_option("--console", c.console, "write the guest console to FILE instead of stdout");
  app.add_flag("--ring3", c.ring3, "start the ELF at CPL3 with IOPL=3 (ring-3 test guest)");
  app.add_option("--timeout", c.timeout_s, "stop with an error (naming each vCPU's RIP) after S seconds");
  app.add_option("--network", c.network,
                 "attach virtio-net on tap TAP (in this network namespace) with guest MAC: TAP/MAC (docs/NETWORKING.md)");
  app.add_option("--guest_address", c.guest_address, "with --network: eth0's ADDR/PREFIX,GATEWAY (kernel ip=)")
      ->capture_default_str();
  if (all) app.add_option("--channel", c.channel, "serve ipc channel NAME through the guest ring window (ipc/guest_abi.h)");
  app.add_option("--log-level", c.log_level, "trace|debug|info|warn|error (default $SNAPFAAS_LOG or info)");
  app.add_option("--dump_dir,--snapshot-out", c.dump_dir,
                 "at the guest's snapshot point, write a snapshot to DIR (a diff with --load_dir) and exit");
  app.add_option("--load_dir", c.load_dirs, "restore from snapshot dirs base[,diff...]")->delimiter(',');
  app.add_option("--diff_dirs", c.diff_dirs, "diff dirs applied after --load_dir (seed spelling)")->delimiter(',');
  app.add_flag("--copy_base", c.copy_base, "read the base into anonymous memory instead of mapping it");
  app.add_flag("--copy_diff", c.copy_diff, "read diffs into anonymous memory instead of mapping them");
  app.add_flag("--verify_memory", c.verify_memory,
               "check the CRC of every snapshot memory file when it is loaded (reads the whole files; see bench restore)");
  app.add_option("--dump_ws", c.dump_ws,
                 "restored VM: record the guest pages touched since the restore (its working set) into FILE when "
                 "asked (fc_wrapper: after the first response)");
  app.add_option("--load_ws", c.load_ws,
                 "restored VM: prefetch the working set FILE (made by --dump_ws for this snapshot) before the guest runs");
  if (all) {
    app.add_option("--functions", c.functions,
                   "pre-spawned mode: build the VM, wait for kRestore/kBoot on --channel (table from the supervisor)");
  }
  app.add_flag("--allow_writable_header", c.allow_writable_header,
               "map the ring window's header page writable if KVM refuses KVM_MEM_READONLY (the guest could then "
               "forge its channel header; debugging only)");
  app.add_flag("--no_seccomp", c.no_seccomp, "do not install the seccomp filters (debugging only)");
  app.add_flag("--seccomp_log", c.seccomp_log, "")->group("");  // hidden: log instead of kill
}

std::vector<std::string> runner_args(const RunnerCommand& c) {
  const RunnerCommand d;  // the defaults
  std::vector<std::string> args = {"--kernel", c.kernel};
  auto text = [&](const char* flag, const std::string& value, const std::string& default_value) {
    if (value != default_value) args.insert(args.end(), {flag, value});
  };
  auto flag = [&](const char* name, bool value) {
    if (value) args.emplace_back(name);
  };
  text("--rootfs", c.rootfs, d.rootfs);
  flag("--rootfs_rw", c.rootfs_rw);
  flag("--direct_io", c.direct_io);
  text("--appfs", c.appfs, d.appfs);
  text("--mem_size", std::to_string(c.mem_mib), std::to_string(d.mem_mib));
  text("--vcpu_count", std::to_string(c.vcpu_count), std::to_string(d.vcpu_count));
  text("--kernel_args", c.kernel_args, d.kernel_args);
  text("--console", c.console, d.console);
  flag("--ring3", c.ring3);
  if (c.timeout_s != d.timeout_s) args.insert(args.end(), {"--timeout", number(c.timeout_s)});
  text("--network", c.network, d.network);
  text("--guest_address", c.guest_address, d.guest_address);
  text("--channel", c.channel, d.channel);
  text("--log-level", c.log_level, d.log_level);
  text("--dump_dir", c.dump_dir, d.dump_dir);
  text("--load_dir", join(c.load_dirs), "");
  text("--diff_dirs", join(c.diff_dirs), "");
  flag("--copy_base", c.copy_base);
  flag("--copy_diff", c.copy_diff);
  flag("--verify_memory", c.verify_memory);
  text("--dump_ws", c.dump_ws, d.dump_ws);
  text("--load_ws", c.load_ws, d.load_ws);
  text("--functions", c.functions, d.functions);
  flag("--allow_writable_header", c.allow_writable_header);
  flag("--no_seccomp", c.no_seccomp);
  flag("--seccomp_log", c.seccomp_log);
  return args;
}

}  // namespace snapfaas::common
