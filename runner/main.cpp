// firerunner: the SnapFaaS VMM. Boots a vmlinux (serial console, virtio-blk rootfs/appfs) or a
// freestanding ring-3 test guest, restores a snapshot, or waits pre-spawned for the supervisor's
// load command (runner/runner_lifecycle.h), and exits with the guest's status.
#include <CLI/CLI.hpp>

#include "common/runner_command.h"
#include "runner/runner_lifecycle.h"

int main(int argc, char** argv) {
  snapfaas::common::RunnerCommand command;
  {
    // The parser (every option object, its help text) is freed before the VM is created: the
    // runner's heap keeps only what the VM needs (bench density: runner heap).
    CLI::App app{"firerunner: boot or restore one microVM (Linux vmlinux or ring-3 test guest)"};
    snapfaas::common::add_runner_options(app, command);
    CLI11_PARSE(app, argc, argv);
  }
  return snapfaas::runner::run_firerunner(command);
}
