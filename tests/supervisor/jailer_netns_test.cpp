// Network namespaces for jailed runners (functions with network: true), natively, inside private
// mount and network namespaces of this test process (a tmpfs over /run there; nothing on the
// machine is touched): scripts/setup-network.sh makes the runner namespaces, a jailed runner joins
// its own (sees its links, not another runner's, gets /dev/net/tun and attaches tap0 as the jail's
// unprivileged uid), a runner without a prefix still gets a new empty namespace, and a missing
// namespace is one clear error naming scripts/setup-network.sh — from the jailer and from
// snapfaas-supervisor, which fails at once instead of waiting for runners. Also what every jail is:
// one uid per runner, its own session, RLIMIT_NPROC/NOFILE, a /proc with its own pids only, no
// chown of the host's /dev/kvm when the jail cannot have a node of its own; a child that cannot set
// up its jail reports one line and exits 127 even while another supervisor thread holds a lock
// (stderr's stdio lock here) at the clone: the child half takes no lock and allocates nothing.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"
#include "supervisor/jailer.h"

namespace fs = std::filesystem;
using snapfaas::supervisor::JailOptions;
using snapfaas::supervisor::Jailer;
using snapfaas::supervisor::JailSpec;

namespace {

std::string ns_link(const char* which) {
  return fs::read_symlink(std::string("/proc/self/ns/") + which).string();
}

int sh(const std::string& command) {
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

// Once per process: private mount + network namespaces, /run on a private tmpfs, and the runner
// namespaces snapfaas-0 and snapfaas-1 from scripts/setup-network.sh, each with a marker tap of its
// own. REQUIREs that the namespaces really are private before anything is created.
void enter_private_network() {
  static bool done = false;
  if (done) return;
  const std::string outer_net = ns_link("net"), outer_mnt = ns_link("mnt");
  REQUIRE_MESSAGE(::unshare(CLONE_NEWNS | CLONE_NEWNET) == 0, "unshare needs root: ", std::strerror(errno));
  REQUIRE(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0);
  REQUIRE(ns_link("net") != outer_net);
  REQUIRE(ns_link("mnt") != outer_mnt);
  REQUIRE(::mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") == 0);
  REQUIRE(sh("ip link set lo up") == 0);
  REQUIRE(sh(std::string(SNAPFAAS_SOURCE_DIR) + "/scripts/setup-network.sh 2 2>/dev/null") == 0);
  REQUIRE(sh("ip -n snapfaas-0 tuntap add dev sfmark0 mode tap && ip -n snapfaas-1 tuntap add dev sfmark1 mode tap") == 0);
  done = true;
}

struct Output {
  int status = -1;
  std::string text;
};

// Spawns `spec` as runner `id` with its stdout captured.
Output run_jailed(Jailer& jailer, const JailSpec& spec, unsigned id) {
  int pipe_fds[2];
  REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
  std::fflush(stdout);
  const int saved = ::dup(1);
  ::dup2(pipe_fds[1], 1);
  pid_t pid = -1;
  std::string error;
  try {
    pid = jailer.spawn(spec, id);
  } catch (const std::exception& e) {
    error = e.what();
  }
  ::dup2(saved, 1);
  ::close(saved);
  ::close(pipe_fds[1]);
  Output out;
  char buf[4096];
  for (ssize_t n; (n = ::read(pipe_fds[0], buf, sizeof buf)) > 0;) out.text.append(buf, static_cast<std::size_t>(n));
  ::close(pipe_fds[0]);
  REQUIRE_MESSAGE(error.empty(), error);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  out.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return out;
}

// What a jailed shell sees: its network links (/proc/net/dev of its namespace) and /dev/net/tun.
JailSpec looker() {
  return {"/bin/busybox",
          {"sh", "-c", "/bin/busybox cat /proc/self/net/dev; /bin/busybox ls -ln /dev/net/tun 2>&1 || true"},
          {},
          "runner"};
}

std::string line_with(const std::string& text, const std::string& what) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.find(what) != std::string::npos) return line;
  }
  return {};
}

JailOptions jail_options(const std::string& prefix) {
  JailOptions o;
  o.netns_prefix = prefix;
  o.base_dir = "/tmp/snapfaas-netns-test-" + std::to_string(::getpid()) + "-" +
               std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
  return o;
}

}  // namespace

TEST_CASE("a jailed runner joins its own named network namespace and gets /dev/net/tun") {
  enter_private_network();
  Jailer jailer(jail_options("snapfaas-"));
  const Output r0 = run_jailed(jailer, looker(), 0);
  const Output r1 = run_jailed(jailer, looker(), 1);
  INFO("runner 0 saw:\n" << r0.text << "runner 1 saw:\n" << r1.text);
  CHECK(r0.status == 0);
  CHECK(r1.status == 0);
  // Each sees the tap, veth and marker of its own namespace only.
  CHECK(r0.text.find("sfmark0:") != std::string::npos);
  CHECK(r0.text.find("sfmark1:") == std::string::npos);
  CHECK(r1.text.find("sfmark1:") != std::string::npos);
  CHECK(r1.text.find("sfmark0:") == std::string::npos);
  CHECK(r0.text.find("tap0:") != std::string::npos);
  CHECK(r0.text.find("veth0:") != std::string::npos);
  // A character device node 10, 200 owned by the jail's uid.
  const std::string tun = line_with(r0.text, "/dev/net/tun");
  CHECK(tun.rfind("crw-------", 0) == 0);
  CHECK(tun.find(" 100000 ") != std::string::npos);  // runner 0's uid (uid_base 100000)
  CHECK(tun.find("10, 200") != std::string::npos);
}

TEST_CASE("without a prefix a runner gets a new, empty network namespace and no /dev/net/tun") {
  enter_private_network();
  Jailer jailer(jail_options(""));
  const Output r = run_jailed(jailer, looker(), 0);
  INFO("runner saw:\n" << r.text);
  CHECK(r.status == 0);
  CHECK(r.text.find("lo:") != std::string::npos);
  CHECK(r.text.find("tap0:") == std::string::npos);
  CHECK(r.text.find("sfmark0:") == std::string::npos);
  CHECK(r.text.find("10, 200") == std::string::npos);
}

TEST_CASE("each runner's own uid attaches the tap0 setup-network.sh made for it; a tap of another owner is refused") {
  enter_private_network();
  Jailer jailer(jail_options("snapfaas-"));
  JailSpec probe{SNAPFAAS_TAP_PROBE_PATH, {"tap0"}, {}, "runner"};
  const Output ok = run_jailed(jailer, probe, 0);
  INFO("probe said:\n" << ok.text);
  CHECK(ok.status == 0);
  CHECK(ok.text.find("uid 100000") != std::string::npos);
  CHECK(ok.text.find("tap tap0: attached") != std::string::npos);
  const Output one = run_jailed(jailer, probe, 1);
  INFO("probe said:\n" << one.text);
  CHECK(one.text.find("uid 100001") != std::string::npos);  // runner 1: a uid of its own, its own tap
  CHECK(one.text.find("tap tap0: attached") != std::string::npos);
  // setup-network.sh --uid_base makes the taps other uids' (and again 100000+i's): idempotent per owner.
  REQUIRE(sh(std::string(SNAPFAAS_SOURCE_DIR) + "/scripts/setup-network.sh 2 --uid_base 4242 --gid_base 4242 2>/dev/null") == 0);
  const Output refused = run_jailed(jailer, probe, 0);
  INFO("probe said:\n" << refused.text);
  CHECK(refused.status == 1);
  CHECK(refused.text.find("TUNSETIFF: Operation not permitted") != std::string::npos);
  REQUIRE(sh(std::string(SNAPFAAS_SOURCE_DIR) + "/scripts/setup-network.sh 2 2>/dev/null") == 0);
  const Output again = run_jailed(jailer, probe, 1);
  INFO("probe said:\n" << again.text);
  CHECK(again.text.find("tap tap0: attached") != std::string::npos);
}

TEST_CASE("a missing runner namespace is one clear error naming setup-network.sh") {
  enter_private_network();
  Jailer jailer(jail_options("snapfaas-"));
  std::string error;
  try {
    (void)jailer.spawn(looker(), 5);
  } catch (const snapfaas::common::Error& e) {
    error = e.what();
  }
  CHECK(error.find("/run/netns/snapfaas-5") != std::string::npos);
  CHECK(error.find("scripts/setup-network.sh N") != std::string::npos);
  CHECK(error.find('\n') == std::string::npos);
  error.clear();
  try {
    snapfaas::supervisor::check_network_namespaces("snapfaas-", 4);
  } catch (const snapfaas::common::Error& e) {
    error = e.what();
  }
  CHECK(error.find("/run/netns/snapfaas-2") != std::string::npos);
  CHECK(error.find("run scripts/setup-network.sh 4") != std::string::npos);
  CHECK_NOTHROW(snapfaas::supervisor::check_network_namespaces("snapfaas-", 2));
  // A file that is not a namespace.
  std::ofstream("/run/netns/snapfaas-9").put('x');
  error.clear();
  try {
    (void)jailer.spawn(looker(), 9);
  } catch (const snapfaas::common::Error& e) {
    error = e.what();
  }
  CHECK(error.find("/run/netns/snapfaas-9 is not a network namespace") != std::string::npos);
}

TEST_CASE("snapfaas-supervisor with a network function and no namespaces fails at once with one line") {
  enter_private_network();
  const fs::path dir = fs::temp_directory_path() / ("snapfaas-netns-sup-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "vmlinux") << "not a kernel";
  std::ofstream(dir / "workload.jsonl") << R"({"time": 0, "user_id": 1, "function": "fetch", "payload": {}})" << '\n';
  std::ofstream(dir / "controller.yaml") << "kernel_path: vmlinux\nfunction_config: functions.yaml\n"
                                         << "firerunner_path: " << SNAPFAAS_FAKE_RUNNER_PATH << "\n"
                                         << "network_namespace_prefix: sfmissing-\n";
  const std::string run = std::string("timeout 30 ") + SNAPFAAS_SUPERVISOR_PATH + " --config " +
                          (dir / "controller.yaml").string() + " --requests_file " +
                          (dir / "workload.jsonl").string() + " --mem 384 --runners 3 --log-level warn 2>" +
                          (dir / "stderr.txt").string();
  auto read_stderr = [&] {
    std::ifstream in(dir / "stderr.txt");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  };
  SUBCASE("missing namespaces") {
    std::ofstream(dir / "functions.yaml") << "fetch:\n  runtimefs: rootfs.ext4\n  network: true\n  load_dir: python3-net\n"
                                          << "hello:\n  runtimefs: rootfs.ext4\n  load_dir: python3\n";
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(sh(run) == 1);
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(20));
    const std::string err = read_stderr();
    INFO("stderr: " << err);
    CHECK(err.find("/run/netns/sfmissing-0") != std::string::npos);
    CHECK(err.find("run scripts/setup-network.sh 3") != std::string::npos);
    CHECK(std::count(err.begin(), err.end(), '\n') == 1);
  }
  SUBCASE("a function that would boot with the network device of another") {
    std::ofstream(dir / "functions.yaml") << "fetch:\n  runtimefs: rootfs.ext4\n  network: true\n  load_dir: python3-net\n"
                                          << "plain:\n  runtimefs: rootfs.ext4\n";
    CHECK(sh(run) == 1);
    const std::string err = read_stderr();
    INFO("stderr: " << err);
    CHECK(err.find("function 'plain' boots without a snapshot") != std::string::npos);
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}

TEST_CASE("every jail: its own uid, session and rlimits, a /proc with its own pids only") {
  enter_private_network();
  JailOptions options = jail_options("");
  options.max_processes = 48;
  options.max_open_files = 777;
  Jailer jailer(options);
  const JailSpec look{"/bin/busybox",
                      {"sh", "-c",
                       "echo uid $(/bin/busybox id -u) gid $(/bin/busybox id -g) groups $(/bin/busybox id -G); "
                       "echo sid $(/bin/busybox cut -d' ' -f6 /proc/self/stat) pid $$; "
                       "/bin/busybox grep -E 'Max (processes|open files)' /proc/self/limits; "
                       "echo proc: $(/bin/busybox ls /proc)"},
                      {},
                      "runner"};
  const Output r0 = run_jailed(jailer, look, 0);
  const Output r3 = run_jailed(jailer, look, 3);
  INFO("runner 0 saw:\n" << r0.text << "runner 3 saw:\n" << r3.text);
  CHECK(r0.status == 0);
  CHECK(line_with(r0.text, "uid ") == "uid 100000 gid 100000 groups 100000");
  CHECK(line_with(r3.text, "uid ") == "uid 100003 gid 100003 groups 100003");
  CHECK(line_with(r0.text, "sid ") == "sid 1 pid 1");  // pid 1 of its pid namespace leads its own session
  const std::string nproc = line_with(r0.text, "Max processes");
  CHECK(nproc.find(" 48 ") != std::string::npos);
  CHECK(line_with(r0.text, "Max open files").find(" 777 ") != std::string::npos);
  // Only pids (and self/thread-self): no host-wide /proc files.
  const std::string proc = line_with(r0.text, "proc:");
  for (const char* host_wide : {" irq", " bus", " sys", " cpuinfo", " kallsyms", " meminfo", " net"}) {
    CHECK_MESSAGE(proc.find(host_wide) == std::string::npos, host_wide);
  }
  CHECK(proc.find(" self") != std::string::npos);
  CHECK(proc.find(" 1") != std::string::npos);
}

TEST_CASE("a jail that cannot have its own /dev/kvm node gets the host's as it is, never chowned") {
  enter_private_network();
  struct stat before {};
  REQUIRE(::stat("/dev/kvm", &before) == 0);
  JailOptions options = jail_options("");
  options.mknod_devices = false;  // as on a host whose device cgroup refuses mknod
  Jailer jailer(options);
  const JailSpec look{"/bin/busybox",
                      {"sh", "-c", "/bin/busybox ls -ln /dev/kvm; /bin/busybox head -c 0 /dev/kvm && echo kvm: opened"},
                      {},
                      "runner"};
  const Output r = run_jailed(jailer, look, 0);
  struct stat after {};
  REQUIRE(::stat("/dev/kvm", &after) == 0);
  if (after.st_uid != before.st_uid || after.st_gid != before.st_gid) {
    (void)::chown("/dev/kvm", before.st_uid, before.st_gid);  // put the host's node back
  }
  INFO("runner saw:\n" << r.text);
  CHECK(after.st_uid == before.st_uid);
  CHECK(after.st_gid == before.st_gid);
  CHECK(after.st_mode == before.st_mode);
  // The runner reaches it only as the node's owner/group/mode allow (here 0600 root: it cannot).
  const bool group_usable = (before.st_mode & 0060) == 0060 && before.st_gid != 0;
  CHECK((r.text.find("kvm: opened") != std::string::npos) == (group_usable || (before.st_mode & 0006) == 0006));
}

TEST_CASE("a jail that cannot be set up: one line on stderr and exit 127, while another thread holds stderr's lock") {
  enter_private_network();
  Jailer jailer(jail_options(""));
  // Another thread holds stderr's stdio lock across the clone (as an HTTP thread's log line may):
  // a child that printed with stdio would wait for that lock forever (nothing in the child can
  // release it); the child half writes its error with write(2).
  std::promise<void> locked, release;
  std::thread holder([&] {
    ::flockfile(stderr);
    locked.set_value();
    release.get_future().wait();
    ::funlockfile(stderr);
  });
  locked.get_future().wait();
  int err_pipe[2];
  REQUIRE(::pipe2(err_pipe, O_CLOEXEC) == 0);
  const int saved = ::dup(2);
  ::dup2(err_pipe[1], 2);
  const JailSpec spec{"/bin/busybox", {"true"}, {"/nonexistent/snapfaas-jail-test"}, "runner"};
  pid_t pid = -1;
  std::string error;
  try {
    pid = jailer.spawn(spec, 0);
  } catch (const std::exception& e) {
    error = e.what();
  }
  ::dup2(saved, 2);
  ::close(saved);
  ::close(err_pipe[1]);
  int status = 0;
  pid_t waited = 0;
  for (int i = 0; i < 200 && pid > 0 && (waited = ::waitpid(pid, &status, WNOHANG)) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (pid > 0 && waited == 0) {  // stuck: kill it so the test ends, and fail below
    ::kill(pid, SIGKILL);
    (void)::waitpid(pid, &status, 0);
  }
  release.set_value();
  holder.join();
  std::string text;
  char buf[1024];
  for (ssize_t n; (n = ::read(err_pipe[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
  ::close(err_pipe[0]);
  REQUIRE_MESSAGE(error.empty(), error);
  CHECK_MESSAGE(waited == pid, "the jailed child did not exit within 10 s (blocked on a lock?)");
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 127);
  CHECK(text == "jailer: stat /nonexistent/snapfaas-jail-test: No such file or directory\n");
}
