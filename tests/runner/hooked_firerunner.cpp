// firerunner_hooked: the production firerunner (same command line, same RunnerLifecycle) plus
// `--test_hook NAME[:F]`, for tests that need a runner to misbehave on cue. Never installed; the
// firerunner binary has no hooks.
//   forbidden_syscall     after lock-down, call socket(2), which no role allows: SIGSYS
//   forbidden_syscall:F   the same when the load of function table index F arrives
//   open_file[:F]         the same with openat(2) of /etc/hostname (no file is opened after lock-down)
//   stall_on_load:F       sleep 60 s when the load of F arrives, before applying it (the
//                         supervisor's deadline then kills the runner mid-restore)
#include <CLI/CLI.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <optional>
#include <string>

#include "common/runner_command.h"
#include "runner/runner_lifecycle.h"

namespace {

struct Hook {
  std::string name;
  std::optional<std::uint32_t> function;
};

void fire(const Hook& hook) {
  std::fprintf(stderr, "firerunner: test hook %s fired\n", hook.name.c_str());
  if (hook.name == "stall_on_load") ::sleep(60);  // a jail's pid 1 cannot raise SIGKILL: the supervisor kills it
  if (hook.name == "forbidden_syscall") (void)::syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
  if (hook.name == "open_file") (void)::syscall(SYS_openat, AT_FDCWD, "/etc/hostname", O_RDONLY);
}

}  // namespace

int main(int argc, char** argv) {
  snapfaas::common::RunnerCommand command;
  std::string spec;
  CLI::App app{"firerunner with test hooks (tests only)"};
  snapfaas::common::add_runner_options(app, command);
  app.add_option("--test_hook", spec, "NAME[:FUNCTION]: forbidden_syscall[:F], open_file[:F] or stall_on_load:F");
  CLI11_PARSE(app, argc, argv);
  Hook hook;
  if (!spec.empty()) {
    const auto colon = spec.find(':');
    hook.name = spec.substr(0, colon);
    if (colon != std::string::npos) hook.function = static_cast<std::uint32_t>(std::stoul(spec.substr(colon + 1)));
    if (hook.name != "forbidden_syscall" && hook.name != "open_file" && hook.name != "stall_on_load") {
      std::fprintf(stderr, "firerunner_hooked: --test_hook %s: unknown hook\n", spec.c_str());
      return 2;
    }
  }
  snapfaas::runner::RunnerHooks hooks;
  if (!hook.name.empty() && !hook.function) hooks.locked_down = [hook] { fire(hook); };
  if (hook.function) {
    hooks.loading = [hook](std::uint32_t function) {
      if (function == *hook.function) fire(hook);
    };
  }
  return snapfaas::runner::run_firerunner(command, std::move(hooks));
}
