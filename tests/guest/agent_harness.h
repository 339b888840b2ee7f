// Test harness for the guest agent on the host: a temp dir with a handler.py, the agent binary
// started as a child process over a channel region in /dev/shm (futex doorbells), and a raw
// supervisor end that can write anything into the request ring.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "ipc/channel.h"
#include "ipc/channel_view.h"
#include "ipc/shm_object.h"

extern char** environ;

namespace snapfaas::guest::test {

/// A shm name no other test process uses.
inline std::string unique_name(const char* what) {
  static int counter = 0;
  return "/snapfaas-agent-test-" + std::to_string(::getpid()) + "-" + what + "-" + std::to_string(counter++);
}

/// A temp directory (removed on destruction) holding `file` (handler.py or handler.js) with `source`.
class HandlerDir {
 public:
  explicit HandlerDir(const std::string& source, const std::string& file = "handler.py") {
    char tmpl[] = "/tmp/snapfaas-agent-test-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp");
    path_ = tmpl;
    std::ofstream(path_ / file) << source;
  }
  ~HandlerDir() { std::filesystem::remove_all(path_); }
  HandlerDir(const HandlerDir&) = delete;
  HandlerDir& operator=(const HandlerDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

/// The agent as a child process; stderr goes to a file readable with log(). Killed (SIGKILL) on
/// destruction if still running.
class AgentProcess {
 public:
  AgentProcess(const std::string& shm_name, const std::filesystem::path& module_dir,
               std::vector<std::string> extra = {}) {
    stderr_path_ = module_dir / "agent.stderr";
    // $SNAPFAAS_TEST_AGENT (space-separated words) replaces the built binary, e.g.
    // "chroot /path/to/rootfs /usr/bin/snapfaas-agent" to run the agent inside the guest rootfs.
    std::vector<std::string> args;
    if (const char* custom = std::getenv("SNAPFAAS_TEST_AGENT"); custom != nullptr && *custom != '\0') {
      std::istringstream words(custom);
      for (std::string w; words >> w;) args.push_back(w);
    } else {
      args.push_back(SNAPFAAS_AGENT_PATH);
    }
    args.insert(args.end(), {"--window-file", "/dev/shm" + shm_name, "--window-offset", "0", "--channel-region",
                             "--doorbell", "futex", "--module-dir", module_dir.string(), "--spin-us", "20"});
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 2, stderr_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    // CPython keeps interned objects alive until exit: LeakSanitizer would fail every run.
    ::setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
    const int rc = ::posix_spawnp(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error("posix_spawn agent failed");
  }
  ~AgentProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  AgentProcess(const AgentProcess&) = delete;
  AgentProcess& operator=(const AgentProcess&) = delete;

  /// Asks the agent to stop (SIGTERM: host-mode shutdown) and returns wait().
  int stop(std::chrono::seconds timeout = std::chrono::seconds(30)) {
    ::kill(pid_, SIGTERM);
    return wait(timeout);
  }
  /// Exit code, 128 + signal, or -1 on timeout (the child is then killed).
  int wait(std::chrono::seconds timeout = std::chrono::seconds(30)) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        if (WIFEXITED(status)) return WEXITSTATUS(status);
        return 128 + WTERMSIG(status);
      }
      if (std::chrono::steady_clock::now() >= until) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  /// Everything the agent wrote to stderr so far.
  [[nodiscard]] std::string log() const {
    std::ifstream in(stderr_path_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  pid_t pid_ = -1;
  std::filesystem::path stderr_path_;
};

/// A supervisor end without SupervisorChannel's checks: pushes arbitrary RequestDesc values and
/// pops raw ResponseDesc values. Maps the region a second time; use it instead of (never next to)
/// the SupervisorChannel that created the region.
class RawSupervisor {
 public:
  explicit RawSupervisor(const std::string& name)
      : shm_(ipc::ShmObject::open(name, ipc::ShmObject::Access::kReadWrite)),
        view_(*ipc::ChannelView::attach(shm_.data(), shm_.size())),
        requests_(view_.request_ring()),
        responses_(view_.response_ring()),
        runner_bell_(view_.runner_doorbell()),
        supervisor_bell_(view_.supervisor_doorbell()) {}

  [[nodiscard]] const ipc::ChannelView& view() const { return view_; }

  void push(const ipc::RequestDesc& desc) {
    if (!requests_.try_push(desc)) throw std::runtime_error("request ring full");
    runner_bell_.ring();
  }
  /// Waits up to `timeout` for one response.
  ipc::Result<ipc::ResponseDesc> pop(std::chrono::seconds timeout = std::chrono::seconds(30)) {
    if (ipc::Status s = supervisor_bell_.wait([this] { return responses_.readable(); },
                                              ipc::WaitOptions::within(timeout));
        !s) {
      return s.error();
    }
    return responses_.try_pop();
  }
  [[nodiscard]] std::string slot_text(std::uint32_t slot, std::uint32_t length) const {
    auto bytes = view_.payload(slot, length);
    if (!bytes) return {};
    return std::string(reinterpret_cast<const char*>(bytes->data()), bytes->size());
  }

 private:
  ipc::ShmObject shm_;
  ipc::ChannelView view_;
  ipc::RingProducer<ipc::RequestDesc> requests_;
  ipc::RingConsumer<ipc::ResponseDesc> responses_;
  ipc::Doorbell runner_bell_;
  ipc::Doorbell supervisor_bell_;
};

}  // namespace snapfaas::guest::test
