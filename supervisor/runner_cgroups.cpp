// RunnerCgroups: cgroup v2 set-up and per-runner leaves (see runner_cgroups.h).
#include "supervisor/runner_cgroups.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"

namespace snapfaas::supervisor {
namespace {

namespace fs = std::filesystem;

[[nodiscard]] std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Writes `text` to a cgroup control file; the kernel answers each write(2) on its own.
[[nodiscard]] int write_control(const std::string& path, const std::string& text) noexcept {
  const common::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return errno;
  if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) return errno;
  return 0;
}

[[nodiscard]] bool has_word(const std::string& list, const char* word) {
  std::istringstream words(list);
  for (std::string w; words >> w;) {
    if (w == word) return true;
  }
  return false;
}

}  // namespace

RunnerCgroups::RunnerCgroups(CgroupLimits limits, std::string root) : limits_(limits), root_(std::move(root)) {
  if (!fs::exists(root_ + "/cgroup.controllers")) {
    spdlog::info("jailer: no cgroup v2 hierarchy at {} (this host has cgroup v1 only): runner memory and pids "
                 "limits are not applied (RLIMIT_NPROC still is)",
                 root_);
    return;
  }
  std::string own;
  {
    std::istringstream lines(read_text("/proc/self/cgroup"));
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("0::", 0) == 0) own = line.substr(3);
    }
  }
  if (own == "/") own.clear();
  const std::string base = root_ + own;
  const std::string available = read_text(base + "/cgroup.controllers");
  if (!has_word(available, "memory") || !has_word(available, "pids")) {
    spdlog::info("jailer: cgroup {} offers no memory and pids controllers (it has: {}): runner limits are not "
                 "applied",
                 base, available.empty() ? "none" : available.substr(0, available.find('\n')));
    return;
  }
  const bool cpu = limits_.cpu_percent != 0 && has_word(available, "cpu");
  const std::string controllers = cpu ? "+memory +pids +cpu" : "+memory +pids";
  int err = write_control(base + "/cgroup.subtree_control", controllers);
  if (err == EBUSY && !own.empty()) {
    // The no-internal-processes rule: this cgroup holds the supervisor. Move it into a leaf.
    const std::string leaf = base + "/supervisor";
    if (::mkdir(leaf.c_str(), 0755) != 0 && errno != EEXIST) err = errno;
    else if ((err = write_control(leaf + "/cgroup.procs", std::to_string(::getpid()))) == 0) {
      err = write_control(base + "/cgroup.subtree_control", controllers);
    }
  }
  if (err != 0) {
    spdlog::info("jailer: cannot enable {} for the cgroups under {} ({}): runner limits are not applied", controllers,
                 base, std::strerror(err));
    return;
  }
  const std::string dir = base + "/snapfaas-" + std::to_string(::getpid());
  if (::mkdir(dir.c_str(), 0755) != 0 || (err = write_control(dir + "/cgroup.subtree_control", controllers)) != 0) {
    spdlog::info("jailer: cannot set up {} ({}): runner limits are not applied", dir, std::strerror(err ? err : errno));
    ::rmdir(dir.c_str());
    return;
  }
  dir_ = dir;
  spdlog::info("jailer: cgroup v2: each runner is cloned into {}/runner-N (memory.max {}, pids.max {}{})", dir_,
               limits_.memory_max_bytes ? std::to_string(limits_.memory_max_bytes) : "max",
               limits_.pids_max ? std::to_string(limits_.pids_max) : "max",
               cpu ? ", cpu.max " + std::to_string(limits_.cpu_percent) + "%" : "");
}

RunnerCgroups::~RunnerCgroups() {
  if (dir_.empty()) return;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    if (entry.is_directory(ec)) ::rmdir(entry.path().c_str());
  }
  ::rmdir(dir_.c_str());
}

std::string RunnerCgroups::leaf_path(unsigned runner_id) const { return dir_ + "/runner-" + std::to_string(runner_id); }

common::UniqueFd RunnerCgroups::leaf(unsigned runner_id) {
  if (dir_.empty()) return {};
  const std::string path = leaf_path(runner_id);
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) throw common::sys_error("jailer: create cgroup " + path);
  auto limit = [&](const char* file, const std::string& value) {
    if (const int err = write_control(path + "/" + file, value); err != 0) {
      throw common::sys_error("jailer: cgroup " + path + ": write " + value + " to " + file, err);
    }
  };
  limit("memory.max", limits_.memory_max_bytes ? std::to_string(limits_.memory_max_bytes) : "max");
  limit("pids.max", limits_.pids_max ? std::to_string(limits_.pids_max) : "max");
  if (limits_.cpu_percent != 0 && fs::exists(path + "/cpu.max")) {
    limit("cpu.max", std::to_string(limits_.cpu_percent * 1000) + " 100000");
  }
  common::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) throw common::sys_error("jailer: open cgroup " + path);
  return fd;
}

}  // namespace snapfaas::supervisor
