// fake_firerunner: stands in for firerunner in fc_wrapper tests. Accepts firerunner's flags,
// opens the channel named by --channel and serves it with serve_fake() until kShutdown.
// Environment FAKE_FIRERUNNER=die: exit 3 right after the first control command (before replying);
// FAKE_FIRERUNNER=fail: exit 4 after shutdown. FAKE_FIRERUNNER_COUNTS_MS=N: N ms after the first
// answer, publishes KVM counts for the load (page faults 1234, exits 5678) as firerunner would.
#include <CLI/CLI.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "ipc/runner_times.h"
#include "tests/wrapper/fake_runner.h"

int main(int argc, char** argv) {
  std::string kernel, rootfs, appfs, kernel_args, channel_name;
  unsigned mem = 0, vcpus = 0;
  CLI::App app{"fake firerunner"};
  app.add_option("--kernel", kernel)->required();
  app.add_option("--rootfs", rootfs);
  app.add_option("--appfs", appfs);
  app.add_option("--mem_size", mem);
  app.add_option("--vcpu_count", vcpus);
  app.add_option("--kernel_args", kernel_args);
  app.add_option("--channel", channel_name)->required();
  CLI11_PARSE(app, argc, argv);
  std::printf("fake firerunner: console line (must not reach fc_wrapper's stdout)\n");
  std::fflush(stdout);
  auto channel = snapfaas::ipc::RunnerChannel::open(channel_name);
  const char* mode_env = std::getenv("FAKE_FIRERUNNER");
  const std::string mode = mode_env ? mode_env : "";
  if (mode == "die") {
    while (!channel.try_control()) (void)channel.wait(snapfaas::ipc::WaitOptions::within(std::chrono::seconds(1)));
    return 3;
  }
  std::atomic<bool> stop{false};
  const char* counts_ms = std::getenv("FAKE_FIRERUNNER_COUNTS_MS");
  std::function<void(int)> after_answer;
  if (counts_ms != nullptr) {
    after_answer = [&channel, delay = std::chrono::milliseconds(std::atoi(counts_ms))](int answered) {
      if (answered != 1) return;
      std::this_thread::sleep_for(delay);
      snapfaas::ipc::publish_load_counters(channel.shm().data(), {.page_faults = 1234, .exits = 5678});
    };
  }
  snapfaas::wrapper::test::serve_fake(channel, stop, after_answer);
  return mode == "fail" ? 4 : 0;
}
