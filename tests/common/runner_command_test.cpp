// common/runner_command: firerunner's flags, built by the supervisor and fc_wrapper, parsed by
// firerunner — runner_args and add_runner_options must agree on every field.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "common/runner_command.h"

using snapfaas::common::RunnerCommand;

namespace {

RunnerCommand parse(const std::vector<std::string>& args) {
  CLI::App app;
  RunnerCommand parsed;
  snapfaas::common::add_runner_options(app, parsed);
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 parses a reversed vector
  app.parse(reversed);
  return parsed;
}

}  // namespace

TEST_CASE("defaults: only --kernel is written, and it parses back to the defaults") {
  RunnerCommand c;
  c.kernel = "/k/vmlinux";
  CHECK(snapfaas::common::runner_args(c) == std::vector<std::string>{"--kernel", "/k/vmlinux"});
  CHECK(parse(snapfaas::common::runner_args(c)) == c);
}

TEST_CASE("every field set: runner_args parses back to the same command") {
  RunnerCommand c;
  c.kernel = "/k/vmlinux";
  c.rootfs = "/i/rootfs.ext4";
  c.rootfs_rw = true;
  c.direct_io = true;
  c.appfs = "/i/app fs.ext2";  // a space survives: each value is its own argument
  c.mem_mib = 256;
  c.vcpu_count = 2;
  c.kernel_args = "quiet loglevel=3";
  c.console = "/tmp/console.log";
  c.ring3 = true;
  c.timeout_s = 2.5;
  c.network = "tap0/06:00:ac:10:00:02";
  c.guest_address = "10.0.0.2/24,10.0.0.1";
  c.channel = "/snapfaas-x";
  c.log_level = "debug";
  c.dump_dir = "/s/out";
  c.load_dirs = {"/s/base", "/s/d1"};
  c.diff_dirs = {"/s/d2"};
  c.copy_base = true;
  c.copy_diff = true;
  c.verify_memory = true;
  c.dump_ws = "/s/d2/working_set";
  c.load_ws = "/s/d2/ws";
  c.functions = "/t/functions.json";
  c.allow_writable_header = true;
  c.no_seccomp = true;
  c.seccomp_log = true;
  const RunnerCommand back = parse(snapfaas::common::runner_args(c));
  CHECK(back == c);
  CHECK(back.snapshot_layers() == std::vector<std::string>{"/s/base", "/s/d1", "/s/d2"});
}

TEST_CASE("firerunner's spellings: the seed's --diff_dirs and the --snapshot-out alias") {
  const RunnerCommand c = parse({"--kernel", "k", "--load_dir", "b", "--diff_dirs", "x,y", "--snapshot-out", "o"});
  CHECK(c.snapshot_layers() == std::vector<std::string>{"b", "x", "y"});
  CHECK(c.dump_dir == "o");
  CHECK_THROWS(parse({"--rootfs", "r"}));  // --kernel is required
}
