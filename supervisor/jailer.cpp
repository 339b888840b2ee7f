// The jailer (see jailer.h). The child half runs between clone() and execve(): system calls on a
// plan made beforehand (jail_plan.h: no allocation, no lock after the clone); it only reports
// errors on stderr and _exits, never returns into supervisor code.
#include "supervisor/jailer.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/nsfs.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iterator>

#include "common/error.h"
#include "common/unique_fd.h"
#include "supervisor/elf_libraries.h"
#include "supervisor/jail_plan.h"

namespace snapfaas::supervisor {
namespace {

namespace fs = std::filesystem;

// The child's one way to report: a line built in a stack buffer and written with write(2) (no
// allocation, no stdio lock: see jail_plan.h), then exit 127.
[[noreturn]] void child_fail(const char* step, const char* what) {
  const int err = errno;
  const char* reason = ::strerrordesc_np(err);
  char line[1024];
  std::size_t n = 0;
  for (const char* part : {"jailer: ", step, " ", what, ": ", reason != nullptr ? reason : "unknown error"}) {
    for (; *part != '\0' && n < sizeof line - 1; ++part) line[n++] = *part;
  }
  line[n++] = '\n';
  [[maybe_unused]] const ssize_t written = ::write(STDERR_FILENO, line, n);
  _exit(127);
}

// Binds `host` onto `target`; `file`: the mount point is an empty file created here (its
// directory exists: JailPlan::dirs).
void bind_mount(const char* host, const char* target, bool file, bool read_only) {
  if (file) {
    const int fd = ::open(target, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) child_fail("create", target);
    ::close(fd);
  }
  if (::mount(host, target, nullptr, MS_BIND | MS_REC, nullptr) != 0) child_fail("bind", host);
  if (read_only && ::mount(nullptr, target, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, nullptr) != 0) {
    child_fail("remount read-only", host);
  }
}

// In the child: the channel (when there is one) becomes descriptor kChannelFd, every other
// descriptor above stderr is closed.
void hand_over_fds(int channel_fd) {
  if (channel_fd == kChannelFd) {
    if (::fcntl(channel_fd, F_SETFD, 0) != 0) child_fail("fcntl", "channel descriptor");
  } else if (channel_fd >= 0 && ::dup2(channel_fd, kChannelFd) != kChannelFd) {  // dup2 clears FD_CLOEXEC
    child_fail("dup2", "channel descriptor");
  }
  const unsigned first = channel_fd >= 0 ? kChannelFd + 1 : 3;
  if (::syscall(SYS_close_range, first, ~0U, 0U) != 0) child_fail("close_range", "");
}

// The child's stdout becomes the console pipe (result lines never mix with a guest's console) and
// stdin /dev/null. Before anything else, while /dev/null is still the host's.
void redirect_console(int console_fd) {
  if (console_fd < 0) return;
  if (::dup2(console_fd, STDOUT_FILENO) < 0) child_fail("dup2", "console");
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0 || ::dup2(null_fd, STDIN_FILENO) < 0) child_fail("open", "/dev/null");
}

// A runner dies with the supervisor (SIGKILL when the thread that cloned it, the event loop's,
// ends): a supervisor killed or crashed leaves no VM running unowned. Set right after the clone
// and again after setresuid, which clears it (commit_creds); `parent` > 0: the supervisor's pid
// as this child sees it, checked afterwards (a supervisor that died before the prctl sends no
// signal). In a new pid namespace the parent is invisible (getppid() is 0): a supervisor dying
// in the instant before either prctl (right after the clone, right after setresuid) goes unseen.
void die_with_supervisor(pid_t parent) {
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) child_fail("prctl", "PDEATHSIG");
  if (parent > 0 && ::getppid() != parent) ::_exit(127);
}

// The runner's CPUs (--runner_cpus), when the supervisor places runners.
void pin_cpus(const JailOptions& options) noexcept {
  if (options.pin_cpus && ::sched_setaffinity(0, sizeof options.cpus, &options.cpus) != 0) {
    child_fail("sched_setaffinity", "--runner_cpus");
  }
}

// Everything between clone() and execve() in the jailed child: system calls on `plan`'s prepared
// strings only (jail_plan.h). `netns_fd` >= 0: join that network namespace (the child was cloned
// without CLONE_NEWNET).
[[noreturn]] void jail_child(const JailOptions& options, const RunnerIdentity& id, const JailSpec& spec,
                             const JailPlan& plan, char* const* argv, int netns_fd) {
  die_with_supervisor(0);
  pin_cpus(options);
  // A session of its own: no terminal, no signals aimed at the supervisor's process group.
  if (::setsid() < 0) child_fail("setsid", "");
  redirect_console(spec.console_fd);
  if (netns_fd >= 0 && ::setns(netns_fd, CLONE_NEWNET) != 0) child_fail("setns", "network namespace");
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) child_fail("make-rprivate", "/");
  const char* root = plan.root.c_str();
  if (::mount("tmpfs", root, "tmpfs", MS_NOSUID, "size=8m,mode=0755") != 0) child_fail("mount tmpfs", root);
  for (const auto& dir : plan.dirs) {
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) child_fail("mkdir", dir.c_str());
  }
  for (const auto& m : plan.mounts) {
    errno = m.missing_errno;
    if (m.missing_errno != 0) child_fail("stat", m.host.c_str());
    bind_mount(m.host.c_str(), m.target.c_str(), !m.dir, m.read_only);
  }
  bind_mount("/dev/null", plan.null_target.c_str(), true, false);
  // Device nodes of the jail's own, owned by the runner (Firecracker's jailer does the same). When
  // mknod is refused (a device cgroup), or options.mknod_devices is off, the host node is
  // bind-mounted instead and left as it is (its owner and mode never change); the runner reaches
  // it through the node's group (JailDevice::bind_group), added to its supplementary groups.
  gid_t groups[4];
  std::size_t group_count = 0;
  for (const auto& d : plan.devices) {
    if (options.mknod_devices && ::mknod(d.target.c_str(), S_IFCHR | 0600, makedev(d.major, d.minor)) == 0) {
      if (::chown(d.target.c_str(), id.uid, id.gid) != 0) child_fail("chown", d.target.c_str());
      continue;
    }
    bind_mount(d.host.c_str(), d.target.c_str(), true, false);
    if (d.bind_group != 0 && group_count < std::size(groups)) groups[group_count++] = d.bind_group;
  }
  // pivot_root(".", ".") stacks the old root under the new one; detaching it leaves only the jail.
  if (::chdir(root) != 0) child_fail("chdir", root);
  if (::syscall(SYS_pivot_root, ".", ".") != 0) child_fail("pivot_root", root);
  if (::umount2(".", MNT_DETACH) != 0) child_fail("umount old root", root);
  if (::chdir("/") != 0) child_fail("chdir", "/");
  // /proc with the runner's own pids only (its pid namespace): no host-wide files (/proc/irq,
  // /proc/bus, /proc/sys, ...). firerunner reads nothing there; the sanitizer runtime of test
  // builds reads /proc/self/maps and friends, which subset=pid keeps.
  if (::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "subset=pid,hidepid=invisible") != 0) {
    child_fail("mount", "/proc (subset=pid,hidepid=invisible)");
  }
  if (::mount(nullptr, "/", nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID, nullptr) != 0) {
    child_fail("remount read-only", "/");
  }
  if (::sethostname(plan.hostname.data(), plan.hostname.size()) != 0) child_fail("sethostname", plan.hostname.c_str());
  const rlimit files{options.max_open_files, options.max_open_files};
  const rlimit processes{options.max_processes, options.max_processes};
  const rlimit no_core{0, 0};
  if (::setrlimit(RLIMIT_NOFILE, &files) != 0) child_fail("setrlimit", "RLIMIT_NOFILE");
  if (::setrlimit(RLIMIT_NPROC, &processes) != 0) child_fail("setrlimit", "RLIMIT_NPROC");
  if (::setrlimit(RLIMIT_CORE, &no_core) != 0) child_fail("setrlimit", "RLIMIT_CORE");
  if (::setgroups(group_count, groups) != 0) child_fail("setgroups", "");
  if (::setresgid(id.gid, id.gid, id.gid) != 0) child_fail("setresgid", plan.gid_text.c_str());
  if (::setresuid(id.uid, id.uid, id.uid) != 0) child_fail("setresuid", plan.uid_text.c_str());
  die_with_supervisor(0);  // setresuid cleared it
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) child_fail("prctl", "NO_NEW_PRIVS");
  hand_over_fds(spec.channel_fd);
  ::execv(spec.binary.c_str(), argv);
  child_fail("execv", spec.binary.c_str());
}

// fork()-like clone with `flags` (namespaces), into cgroup `cgroup_fd` when >= 0 (clone3 with
// CLONE_INTO_CGROUP: the child never runs outside it). 0 in the child, its pid in the parent, -1
// with errno.
pid_t clone_runner(std::uint64_t flags, int cgroup_fd) noexcept {
  if (cgroup_fd < 0) {
    return static_cast<pid_t>(::syscall(SYS_clone, static_cast<long>(flags) | SIGCHLD, nullptr, nullptr, nullptr, nullptr));
  }
  clone_args args{};
  args.flags = flags | CLONE_INTO_CGROUP;
  args.exit_signal = SIGCHLD;
  args.cgroup = static_cast<std::uint64_t>(cgroup_fd);
  return static_cast<pid_t>(::syscall(SYS_clone3, &args, sizeof args));
}

// Opens runner `runner_id`'s network namespace (close-on-exec). Throws the one clear error line.
// `runners`: the supervisor's runner count when known (0: say "N").
[[nodiscard]] common::UniqueFd open_netns(const std::string& prefix, unsigned runner_id, unsigned runners) {
  const std::string path = netns_path(prefix, runner_id);
  const std::string fix = "run scripts/setup-network.sh " + (runners != 0 ? std::to_string(runners) : std::string("N")) +
                          (runners != 0 ? "" : " (N: the number of runners)");
  common::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    throw common::Error("network namespace " + path + " for runner " + std::to_string(runner_id) + ": " +
                        std::strerror(errno) + " (a function has network: true): " + fix);
  }
  if (::ioctl(fd.get(), NS_GET_NSTYPE) != CLONE_NEWNET) {
    throw common::Error(path + " is not a network namespace (a function has network: true): " + fix);
  }
  return fd;
}

}  // namespace

std::string netns_path(const std::string& prefix, unsigned runner_id) {
  return "/run/netns/" + prefix + std::to_string(runner_id);
}

void check_network_namespaces(const std::string& prefix, unsigned runners) {
  if (prefix.empty()) return;
  for (unsigned i = 0; i < runners; ++i) (void)open_netns(prefix, i, runners);
}

Jailer::Jailer(JailOptions options) : options_(std::move(options)) {
  if (options_.base_dir.empty()) options_.base_dir = "/tmp/snapfaas-jail-" + std::to_string(::getpid());
  if (!options_.enabled) return;
  std::error_code ec;
  fs::create_directories(options_.base_dir, ec);
  if (ec) throw common::sys_error("jailer: create " + options_.base_dir, ec.value());
  cgroups_.emplace(CgroupLimits{options_.memory_limit_bytes, options_.pids_limit, options_.cpu_percent});
}

Jailer::~Jailer() {
  std::error_code ec;
  if (options_.enabled) fs::remove_all(options_.base_dir, ec);  // empty mount points only: mounts live in children
}

RunnerIdentity Jailer::identity(unsigned runner_id) const noexcept {
  return {options_.uid_base + runner_id, options_.gid_base + runner_id};
}

std::string Jailer::cgroup_of(unsigned runner_id) const {
  return cgroups_enabled() ? cgroups_->leaf_path(runner_id) : std::string();
}

const std::vector<std::string>& Jailer::libraries(const std::string& binary) {
  if (auto it = libraries_.find(binary); it != libraries_.end()) return it->second;
  return libraries_.emplace(binary, elf_libraries(binary)).first->second;
}

pid_t Jailer::spawn(const JailSpec& spec, unsigned runner_id) {
  std::vector<std::string> strings{spec.binary};
  strings.insert(strings.end(), spec.args.begin(), spec.args.end());
  std::vector<char*> argv;
  for (auto& s : strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  common::UniqueFd netns;
  if (!options_.netns_prefix.empty()) netns = open_netns(options_.netns_prefix, runner_id, 0);
  const common::UniqueFd cgroup = cgroups_ ? cgroups_->leaf(runner_id) : common::UniqueFd();
  if (!options_.enabled) {
    const std::string netns_name = netns ? netns_path(options_.netns_prefix, runner_id) : std::string();
    const pid_t parent = ::getpid();
    const pid_t pid = clone_runner(0, cgroup.get());
    if (pid < 0) throw common::sys_error("fork runner " + std::to_string(runner_id));
    if (pid == 0) {  // system calls on prepared data only (jail_plan.h)
      die_with_supervisor(parent);
      pin_cpus(options_);
      if (::setsid() < 0) child_fail("setsid", "");
      redirect_console(spec.console_fd);
      if (netns && ::setns(netns.get(), CLONE_NEWNET) != 0) child_fail("setns", netns_name.c_str());
      hand_over_fds(spec.channel_fd);
      ::execv(spec.binary.c_str(), argv.data());
      child_fail("execv", spec.binary.c_str());
    }
    return pid;
  }
  const std::vector<std::string>& libs = libraries(spec.binary);
  const std::string root = options_.base_dir + "/r" + std::to_string(runner_id);
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) throw common::sys_error("jailer: create " + root, ec.value());
  const JailPlan plan = make_jail_plan(identity(runner_id), spec, root, libs, static_cast<bool>(netns));
  // The child is pid 1 of its new pid namespace (in its cgroup from its first instruction). A
  // runner with a named network namespace joins it (setns in the child) instead of a new one.
  const std::uint64_t flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | (netns ? 0 : CLONE_NEWNET);
  const pid_t pid = clone_runner(flags, cgroup.get());
  if (pid < 0) throw common::sys_error("jailer: clone runner " + std::to_string(runner_id));
  if (pid == 0) jail_child(options_, identity(runner_id), spec, plan, argv.data(), netns ? netns.get() : -1);
  return pid;
}

}  // namespace snapfaas::supervisor
