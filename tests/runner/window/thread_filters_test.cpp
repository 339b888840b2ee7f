// Every thread of a live runner runs under a seccomp program before it touches guest data: the
// test reads /proc/PID/task/*/status of the runner and wants "Seccomp: 2" (filter mode) on every
// thread, and each thread role (named by its program) where the mode has one. Ring-3 runners as
// firerunner processes (boot with a channel, pre-spawned before and after its load, --dump_dir
// with its saver), and a Linux VM with virtio-net (never run: its kernel is a stub) brought to
// lock-down in a forked child inside a private network namespace. A Linux guest with network that
// really runs is checked the same way in the emulated KVM host (tests/supervisor/e2e_isolation.sh).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ipc/channel.h"
#include "ipc/function_table.h"
#include "ipc/guest_abi.h"
#include "runner/runner_lifecycle.h"
#include "tests/runner/loader/elf_builder.h"
#include "tests/runner/window/child.h"

namespace {

namespace fs = std::filesystem;
using namespace snapfaas;
using namespace std::chrono_literals;

struct ThreadStatus {
  std::string tid;
  std::string name;      // comm: the program's for the main thread, the role for the others
  std::string seccomp;   // "2": filter mode
  std::string filters;   // Seccomp_filters: how many programs are stacked
};

std::vector<ThreadStatus> threads_of(pid_t pid) {
  std::vector<ThreadStatus> out;
  std::error_code ec;
  for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream status(task.path() / "status");
    ThreadStatus t{task.path().filename().string(), "", "", ""};
    for (std::string line; std::getline(status, line);) {
      const auto value = [&] {
        std::string v = line.substr(line.find(':') + 1);
        v.erase(0, v.find_first_not_of(" \t"));
        return v;
      };
      if (line.rfind("Name:", 0) == 0) t.name = value();
      if (line.rfind("Seccomp:", 0) == 0) t.seccomp = value();
      if (line.rfind("Seccomp_filters:", 0) == 0) t.filters = value();
    }
    if (t.name.empty() && t.seccomp.empty()) continue;  // it ended between the listing and the read
    out.push_back(t);
  }
  return out;
}

std::string describe(const std::vector<ThreadStatus>& threads) {
  std::ostringstream s;
  for (const auto& t : threads) s << t.tid << " " << t.name << " Seccomp " << t.seccomp << " filters " << t.filters << "; ";
  return s.str();
}

// The filters a role's thread holds once it installed its own: the VMM's program and its own (the
// saver, started before lock-down, its own only).
std::string expected_filters(const std::string& name) {
  if (name == "vcpu" || name == "net-rx" || name == "control") return "2";
  if (name == "saver") return "1";
  return "";
}

// Waits until `pid` has threads named `roles` (all of them), each with its own program installed (a
// thread names itself just before it installs its program: a preempted one is seen in between),
// then checks every thread is filtered.
void check_all_filtered(pid_t pid, const std::vector<std::string>& roles, const std::string& why) {
  std::vector<ThreadStatus> threads;
  const auto until = std::chrono::steady_clock::now() + 20s;
  for (;;) {
    threads = threads_of(pid);
    bool settled = true;
    for (const std::string& role : roles) {
      settled = settled && std::any_of(threads.begin(), threads.end(), [&](const ThreadStatus& t) { return t.name == role; });
    }
    for (const auto& t : threads) {
      const std::string want = expected_filters(t.name);
      settled = settled && (want.empty() || t.filters == want);
    }
    if (settled || std::chrono::steady_clock::now() > until) break;
    std::this_thread::sleep_for(20ms);
  }
  INFO(why << ": " << describe(threads));
  REQUIRE(!threads.empty());
  for (const std::string& role : roles) {
    CHECK(std::any_of(threads.begin(), threads.end(), [&](const ThreadStatus& t) { return t.name == role; }));
  }
  for (const auto& t : threads) {
    CHECK_MESSAGE(t.seccomp == "2", "thread " << t.tid << " (" << t.name << ") has Seccomp " << t.seccomp);
    // KVM's own worker (kvm-nx-lpage-recovery, a task of this process since Linux 6.x) inherits
    // the VMM's program.
    if (const std::string want = expected_filters(t.name); !want.empty()) CHECK(t.filters == want);
  }
}

std::string guest(const char* name) { return std::string(SNAPFAAS_GUEST_DIR) + "/" + name; }

std::string unique_name(const char* tag) {
  static int counter = 0;
  return "/snapfaas-threads-" + std::to_string(::getpid()) + "-" + tag + "-" + std::to_string(counter++);
}

ipc::ControlReply control(ipc::SupervisorChannel& ch, const ipc::ControlCommand& cmd, test::Child& child) {
  REQUIRE(ch.send_control(cmd));
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < until) {
    ipc::Result<ipc::ControlReply> r = ch.control_reply(ipc::WaitOptions::within(50ms));
    if (r) return *r;
    REQUIRE_MESSAGE(child.running(), "firerunner exited: " << child.err());
  }
  FAIL("no control reply for command " << cmd.command_id << "; stderr: " << child.err());
  return {};
}

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("snapfaas-threads-" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace

TEST_CASE("firerunner --channel (boot): the VMM, vCPU and control threads are all filtered") {
  const std::string name = unique_name("boot");
  auto ch = ipc::SupervisorChannel::create(name);
  test::Child child({SNAPFAAS_FIRERUNNER, "--kernel", guest("guest_window_checksum_park"), "--mem_size", "16",
                     "--channel", name, "--log-level", "warn"});
  REQUIRE(control(ch, {1, static_cast<std::uint32_t>(ipc::ControlOp::kPing), 0, 0, 0}, child).status == 0);
  check_all_filtered(child.pid(), {"vcpu"}, "booted ring-3 guest with a channel");
}

TEST_CASE("firerunner --dump_dir: the saver thread waits under its own program, the others under theirs") {
  TempDir dir;
  test::Child child({SNAPFAAS_FIRERUNNER, "--kernel", guest("guest_spin"), "--ring3", "--mem_size", "16", "--dump_dir",
                     (dir.path / "out").string(), "--timeout", "60"});
  check_all_filtered(child.pid(), {"vcpu", "saver"}, "ring-3 guest with --dump_dir");
}

TEST_CASE("pre-spawned firerunner: filtered while it waits for its load and after the restore") {
  TempDir dir;
  // The echo guest's base snapshot (it asks for one at its snapshot point).
  const std::string dump = unique_name("dump");
  {
    auto ch = ipc::SupervisorChannel::create(dump);
    test::Child maker({SNAPFAAS_FIRERUNNER, "--kernel", guest("guest_window_echo"), "--ring3", "--mem_size", "16",
                       "--channel", dump, "--dump_dir", (dir.path / "base").string()});
    const std::optional<int> status = maker.wait_for(30s);
    REQUIRE_MESSAGE(status == 0, maker.err());
  }
  const std::string table = (dir.path / "functions.json").string();
  std::ofstream(table) << ipc::format_function_table({{"echo", {(dir.path / "base").string()}, "", false, false}});
  const std::string name = unique_name("pre");
  auto ch = ipc::SupervisorChannel::create(name);
  test::Child child({SNAPFAAS_FIRERUNNER, "--kernel", guest("guest_window_echo"), "--ring3", "--mem_size", "16",
                     "--channel", name, "--functions", table, "--log-level", "warn"});
  REQUIRE(control(ch, {1, static_cast<std::uint32_t>(ipc::ControlOp::kPing), ipc::kPingGuestReady, 0, 0}, child).status ==
          0);
  check_all_filtered(child.pid(), {"vcpu"}, "pre-spawned, waiting for a load");
  REQUIRE(control(ch, {2, static_cast<std::uint32_t>(ipc::ControlOp::kRestore), 0, 0, 0}, child).status == 0);
  check_all_filtered(child.pid(), {"vcpu"}, "pre-spawned, restored");
}

TEST_CASE("a Linux VM with virtio-net at lock-down: the receive thread is filtered like every other") {
  // In a forked child (its own network namespace, a tap of its own): RunnerLifecycle builds a
  // Linux VM around a stub kernel with --network, locks down, and reports; the parent reads the
  // child's threads. The stub is never run: lock-down is what is checked.
  const fs::path dir = fs::temp_directory_path() / ("snapfaas-threads-linux-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string kernel = (dir / "vmlinux").string();
  {
    const auto elf = runner::test::make_elf_bytes(0x200, 0x1000000, {0x100, 0x1000000, 16, 0x1000});
    std::ofstream(kernel, std::ios::binary).write(reinterpret_cast<const char*>(elf.data()),
                                                   static_cast<std::streamsize>(elf.size()));
  }
  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(ready[0]);
    if (::unshare(CLONE_NEWNET) != 0) _exit(10);
    try {
      common::RunnerCommand command;
      command.kernel = kernel;
      command.mem_mib = 64;
      command.network = "sfthr0/06:00:ac:10:00:02";  // created in this namespace by the tap open
      command.log_level = "warn";
      runner::RunnerLifecycle runner(runner::RunnerOptions::from_command(command));
      runner.lock_down();
      const char ok = 'k';
      if (::write(ready[1], &ok, 1) != 1) _exit(11);
      for (;;) std::this_thread::sleep_for(1s);  // nanosleep: allowed (pause(2) is not)
    } catch (const std::exception& e) {
      std::fprintf(stderr, "lock-down child: %s\n", e.what());
      _exit(12);
    }
  }
  ::close(ready[1]);
  char byte = 0;
  const bool locked = ::read(ready[0], &byte, 1) == 1;
  ::close(ready[0]);
  if (locked) check_all_filtered(pid, {"vcpu", "net-rx"}, "Linux VM with --network after lock-down");
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  fs::remove_all(dir);
  REQUIRE_MESSAGE(locked, "the child did not reach lock-down (status " << status << ")");
}

#if !defined(__SANITIZE_ADDRESS__)  // sanitizer builds allow openat for their runtime: production only
TEST_CASE("the production programs kill a runner that calls socket(2) or opens a file after lock-down") {
  // firerunner_hooked is firerunner plus --test_hook; in build/release its programs are the ones
  // firerunner installs (no sanitizer extras): this case is part of the production label.
  for (const char* hook : {"forbidden_syscall", "open_file"}) {
    CAPTURE(hook);
    test::Child child({SNAPFAAS_HOOKED_FIRERUNNER, "--kernel", guest("guest_spin"), "--ring3", "--mem_size", "16",
                       "--timeout", "30", "--test_hook", hook});
    const std::optional<int> status = child.wait_for(30s);
    REQUIRE(status.has_value());
    CHECK_MESSAGE(*status == 128 + SIGSYS, child.err());
    CHECK(child.err().find(std::string("test hook ") + hook + " fired") != std::string::npos);
  }
}
#endif
