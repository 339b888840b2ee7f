// FirerunnerProcess: posix_spawn, non-blocking reaping, kill on destruction.
#include "wrapper/firerunner_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>
#include <utility>

#include "common/error.h"

extern char** environ;

namespace snapfaas::wrapper {
namespace {
int decode(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }
}  // namespace

FirerunnerProcess FirerunnerProcess::spawn(const std::string& path, const std::vector<std::string>& args) {
  std::vector<std::string> all{path};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, path.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw common::sys_error("spawn " + path, rc);
  return FirerunnerProcess(pid);
}

FirerunnerProcess::FirerunnerProcess(FirerunnerProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), status_(other.status_) {}

FirerunnerProcess::~FirerunnerProcess() {
  if (pid_ > 0 && !status_) kill();
}

std::optional<int> FirerunnerProcess::poll() noexcept {
  if (status_ || pid_ <= 0) return status_;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) status_ = decode(status);
  return status_;
}

std::optional<int> FirerunnerProcess::wait_for(std::chrono::milliseconds timeout) noexcept {
  const auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (poll()) return status_;
    if (std::chrono::steady_clock::now() >= until) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

int FirerunnerProcess::kill() noexcept {
  if (poll()) return *status_;
  ::kill(pid_, SIGKILL);
  int status = 0;
  if (::waitpid(pid_, &status, 0) == pid_) status_ = decode(status);
  return status_.value_or(-1);
}

}  // namespace snapfaas::wrapper
