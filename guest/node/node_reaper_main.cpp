// snapfaas-node-reaper: the Node.js agent's reaper, the process the nodejs image's
// /usr/bin/snapfaas-agent runs. It maps nothing of the window: it makes the in-flight page
// (guest/agent/reaper.h) from a memfd, forks, and the child execs node with the JS loop and
// `--in-flight-fd N`, which the addon adopts as its RingServer's in_flight. The parent is the
// same reaper as the CPython agent's (run_reaper): when node dies while a request is in flight
// (process.exit, process.abort, a fatal V8 error, a signal, the guest kernel's OOM killer), it
// answers that request (function_exited with the status or signal, out_of_memory) and stops the
// VM (AGENT_FATAL kFunctionExited). The fork happens before node starts (V8 is multi-threaded), so
// both processes are in the base snapshot, as the CPython agent's are.
// Usage: snapfaas-node-reaper NODE AGENT_JS [agent options...]   (the agent options are passed to
// AGENT_JS unchanged; the reaper reads --window-file, --window-offset, --channel-region and
// --doorbell from them, with the JS loop's defaults)
#include <CLI/CLI.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "guest/agent/agent_failure.h"
#include "guest/agent/agent_log.h"
#include "guest/agent/futex_doorbell.h"
#include "guest/agent/port_io_doorbell.h"
#include "guest/agent/reaper.h"
#include "guest/agent/window.h"

namespace {

using snapfaas::guest::LogLevel;
using snapfaas::ipc::AgentFatal;

std::atomic<bool> g_stop{false};  // never set: the reaper forwards SIGTERM/SIGINT to node

struct Options {
  snapfaas::guest::WindowSource source;
  bool futex = false;
};

/// The agent options the reaper needs (the JS loop parses and checks them all itself).
bool parse_window_options(int argc, char** argv, Options& options) {
  std::string doorbell = "port";
  CLI::App app{"snapfaas-node-reaper"};
  app.set_help_flag();
  app.allow_extras();
  app.add_option("--window-file", options.source.path);
  app.add_option("--window-offset", options.source.offset);
  app.add_flag("--channel-region", options.source.channel_region);
  app.add_option("--doorbell", doorbell);
  std::vector<std::string> args(argv, argv + argc);
  std::reverse(args.begin(), args.end());  // CLI11 takes a vector last argument first
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    snapfaas::guest::log(LogLevel::kError, "usage: %s", e.what());
    return false;
  }
  options.futex = doorbell == "futex";
  // Host tests: the futex doorbell words live in the header page (as NativeAgent maps it).
  options.source.writable_header = options.futex;
  return true;
}

/// Child: exec node AGENT_JS OPTIONS... --in-flight-fd FD. Returns only on failure.
[[noreturn]] void exec_node(char** argv, int argc, int fd) {
  std::vector<std::string> args(argv + 1, argv + argc);  // NODE AGENT_JS options...
  args.insert(args.end(), {"--in-flight-fd", std::to_string(fd)});
  std::vector<char*> exec_argv;
  for (std::string& a : args) exec_argv.push_back(a.data());
  exec_argv.push_back(nullptr);
  ::execv(exec_argv[0], exec_argv.data());
  snapfaas::guest::log(LogLevel::kError, "exec %s: %s", exec_argv[0], std::strerror(errno));
  ::_exit(static_cast<int>(AgentFatal::kUsage));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: snapfaas-node-reaper NODE AGENT_JS [agent options...]\n");
    return static_cast<int>(AgentFatal::kUsage);
  }
  Options options;
  if (!parse_window_options(argc - 3, argv + 3, options)) return static_cast<int>(AgentFatal::kUsage);
  try {
    snapfaas::common::UniqueFd fd;
    const snapfaas::guest::InFlightPage in_flight = snapfaas::guest::InFlightPage::create_shared(&fd);
    std::fflush(stdout);
    std::fflush(stderr);
    const pid_t reaper = ::getpid();
    const pid_t child = ::fork();
    if (child < 0) throw snapfaas::guest::AgentFailure(AgentFatal::kUsage, std::string("fork: ") + std::strerror(errno));
    if (child == 0) {
      snapfaas::guest::child_after_fork(reaper);  // PR_SET_PDEATHSIG survives the exec
      exec_node(argv, argc, fd.get());
    }
    fd.reset();  // the reaper keeps the mapping only
    snapfaas::guest::ReaperContext context;
    context.source = options.source;
    context.guest = !options.futex;
    context.memory_hint_mib = static_cast<std::uint32_t>(
        static_cast<std::uint64_t>(::sysconf(_SC_PHYS_PAGES)) * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)) >> 20);
    const bool futex = options.futex;
    context.make_doorbell = [futex](const snapfaas::guest::Window& w) -> std::unique_ptr<snapfaas::guest::AgentDoorbell> {
      if (futex) return std::make_unique<snapfaas::guest::FutexDoorbell>(w, g_stop);
      return snapfaas::guest::PortIoDoorbell::create();
    };
    return snapfaas::guest::run_reaper(child, in_flight, context);
  } catch (const snapfaas::guest::AgentFailure& e) {
    // Nothing was mapped yet: no doorbell to report through; the exit code says it.
    snapfaas::guest::log(LogLevel::kError, "%s", e.what());
    return static_cast<int>(e.code());
  }
}
