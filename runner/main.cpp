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
#include "runner/vmm.h"
#include "runner/window/window_service.h"

int main(int argc, char** argv) {
  snapfaas::runner::VmmConfig config;
  std::string log_level;
  std::string channel;
  CLI::App app{"firerunner: boot one microVM (Linux vmlinux or ring-3 test guest)"};
  app.add_option("--kernel", config.kernel, "vmlinux (ELF) or ring-3 guest ELF")->required();
  app.add_option("--rootfs", config.rootfs, "raw root filesystem image (/dev/vda, read-only)");
  app.add_option("--appfs", config.appfs, "raw app filesystem image (/dev/vdb, read-only)");
  app.add_option("--mem_size", config.mem_mib, "guest RAM in MiB")->capture_default_str();
  app.add_option("--vcpu_count", config.vcpu_count, "number of vCPUs")->capture_default_str();
  app.add_option("--kernel_args", config.kernel_args, "extra Linux command-line arguments");
  app.add_option("--console", config.console, "write the guest console to FILE instead of stdout");
  app.add_flag("--ring3", config.ring3, "start the ELF at CPL3 with IOPL=3 (ring-3 test guest)");
  app.add_option("--timeout", config.timeout_s, "stop with an error (naming each vCPU's RIP) after S seconds");
  app.add_option("--channel", channel, "serve ipc channel NAME through the guest ring window (ipc/guest_abi.h)");
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error (default $SNAPFAAS_LOG or info)");
  CLI11_PARSE(app, argc, argv);

  try {
    snapfaas::common::init_logging("firerunner", log_level);
    const auto created = std::chrono::steady_clock::now();
    snapfaas::runner::Vmm vmm(config);
    std::unique_ptr<snapfaas::runner::window::WindowService> window;
    if (!channel.empty()) window = std::make_unique<snapfaas::runner::window::WindowService>(channel, vmm, created);
    const int code = vmm.run();
    spdlog::debug("guest exited with status {}", code);
    return code;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "firerunner: %s\n", e.what());
    return 1;
  }
}
