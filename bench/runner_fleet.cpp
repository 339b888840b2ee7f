// RunnerFleet: real firerunners restored from one echo-guest snapshot, and their smaps breakdown.
#include "bench/runner_fleet.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "ipc/channel.h"

namespace snapfaas::bench {

MemFigures ProcessMemory::process_only() const {
  MemFigures m = total;
  if (const auto it = by_category.find("guest_ram"); it != by_category.end()) {
    m.rss_kib -= it->second.rss_kib;
    m.pss_kib -= it->second.pss_kib;
    m.private_dirty_kib -= it->second.private_dirty_kib;
  }
  return m;
}

namespace {

struct Vma {
  std::uint64_t lo = 0, hi = 0, offset = 0;
  std::string path;
  MemFigures mem;
};

std::vector<Vma> read_smaps(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps");
  std::vector<Vma> out;
  std::string line;
  while (std::getline(in, line)) {
    const std::size_t dash = line.find('-');
    const std::size_t sp = line.find(' ');
    if (dash != std::string::npos && sp != std::string::npos && dash < sp && line[sp - 1] != ':') {
      // "lo-hi perms offset dev inode   path"
      std::istringstream ls(line);
      std::string range, perms, offset, dev, inode, path;
      ls >> range >> perms >> offset >> dev >> inode;
      std::getline(ls, path);
      path.erase(0, path.find_first_not_of(' '));
      Vma v;
      v.lo = std::stoull(range.substr(0, dash), nullptr, 16);
      v.hi = std::stoull(range.substr(dash + 1), nullptr, 16);
      v.offset = std::stoull(offset, nullptr, 16);
      v.path = path;
      out.push_back(std::move(v));
      continue;
    }
    if (out.empty()) continue;
    std::istringstream ls(line);
    std::string key;
    double value = 0;
    if (!(ls >> key >> value)) continue;
    if (key == "Rss:") out.back().mem.rss_kib += value;
    if (key == "Pss:") out.back().mem.pss_kib += value;
    if (key == "Private_Dirty:") out.back().mem.private_dirty_kib += value;
  }
  return out;
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

}  // namespace

ProcessMemory process_memory(pid_t pid, const std::string& binary, const std::string& guest_file_dir,
                             std::uint64_t guest_bytes) {
  const std::vector<Vma> vmas = read_smaps(pid);
  // Guest RAM: the snapshot file mappings and whatever lies between them (anonymous zero ranges,
  // copy-on-write splits), within one guest_bytes range.
  std::uint64_t guest_lo = 0, guest_hi = 0;
  for (const Vma& v : vmas) {
    if (!starts_with(v.path, guest_file_dir + "/")) continue;
    if (guest_lo == 0) guest_lo = v.lo;
    if (v.hi <= guest_lo + guest_bytes) guest_hi = v.hi;
  }
  ProcessMemory pm;
  for (const Vma& v : vmas) {
    std::string cat;
    if (guest_lo != 0 && v.lo >= guest_lo && v.hi <= guest_hi) {
      cat = "guest_ram";
    } else if (v.path == binary) {
      cat = "binary";
    } else if (v.path.find(".so") != std::string::npos) {
      cat = "libraries";
    } else if (v.path == "[heap]") {
      cat = "heap";
    } else if (v.path == "[stack]") {
      cat = "stack";
    } else if (v.path.empty()) {
      cat = "anon";
    } else if (starts_with(v.path, "/dev/shm/") || starts_with(v.path, "/memfd:")) {
      cat = "shm";
    } else if (starts_with(v.path, "anon_inode:")) {
      cat = "kvm";
    } else {
      cat = "other";
    }
    pm.by_category[cat].add(v.mem);
    pm.total.add(v.mem);
  }
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (starts_with(line, "Threads:")) pm.threads = std::atoi(line.c_str() + 8);
  }
  return pm;
}

struct RunnerFleet::Runner {
  explicit Runner(const std::string& name) : channel(ipc::SupervisorChannel::create(name, {})) {}
  ipc::SupervisorChannel channel;
  pid_t pid = -1;
};

RunnerFleet::RunnerFleet(std::string firerunner, std::string echo_guest, std::string dir, std::uint32_t mem_mib)
    : firerunner_(std::move(firerunner)), echo_guest_(std::move(echo_guest)), snapshot_(dir + "/echo-base"),
      mem_mib_(mem_mib) {
  const std::string name = "/snapfaas-bench-density-dump-" + std::to_string(::getpid());
  auto channel = ipc::SupervisorChannel::create(name, {});
  const std::string command = firerunner_ + " --kernel " + echo_guest_ + " --ring3 --mem_size " +
                              std::to_string(mem_mib_) + " --log-level warn --channel " + name + " --dump_dir " +
                              snapshot_ + " > /dev/null";
  if (std::system(command.c_str()) != 0) throw std::runtime_error("echo snapshot: firerunner --dump_dir failed");
}

RunnerFleet::~RunnerFleet() {
  for (auto& r : runners_) {
    if (r->pid > 0) {
      ::kill(r->pid, SIGKILL);
      ::waitpid(r->pid, nullptr, 0);
    }
  }
}

double RunnerFleet::add_one() {
  const std::size_t index = runners_.size();
  auto r = std::make_unique<Runner>("/snapfaas-bench-density-" + std::to_string(::getpid()) + "-" +
                                    std::to_string(index));
  const std::string name = r->channel.shm().name();
  const std::string mem = std::to_string(mem_mib_);
  const auto t0 = std::chrono::steady_clock::now();
  r->pid = ::fork();
  if (r->pid < 0) throw std::runtime_error("fork firerunner");
  if (r->pid == 0) {
    ::execl(firerunner_.c_str(), firerunner_.c_str(), "--kernel", echo_guest_.c_str(), "--ring3", "--mem_size",
            mem.c_str(), "--channel", name.c_str(), "--load_dir", snapshot_.c_str(), "--log-level", "warn",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  Runner& runner = *r;
  runners_.push_back(std::move(r));
  const std::string payload = R"({"n":)" + std::to_string(index) + "}";
  const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size());
  ipc::Result<std::uint32_t> slot = runner.channel.send_copy(index + 1, bytes);
  if (!slot) throw std::runtime_error(std::string("send: ") + ipc::to_string(slot.error()));
  // Park at once (no spin): 100 runners restore one at a time on a shared machine.
  ipc::WaitOptions wait{.spin = std::chrono::nanoseconds(0),
                        .deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60)};
  ipc::Result<ipc::Response> resp = runner.channel.receive(wait);
  if (!resp) throw std::runtime_error("runner " + std::to_string(index) + ": no answer: " + ipc::to_string(resp.error()));
  const std::string_view got(reinterpret_cast<const char*>(resp->payload.data()), resp->payload.size());
  if (got != payload) throw std::runtime_error("runner " + std::to_string(index) + ": wrong echo: " + std::string(got));
  if (!runner.channel.release(resp->slot)) throw std::runtime_error("release");
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

std::vector<pid_t> RunnerFleet::pids() const {
  std::vector<pid_t> out;
  for (const auto& r : runners_) out.push_back(r->pid);
  return out;
}

void RunnerFleet::stop_all() {
  std::uint64_t id = 1;
  for (auto& r : runners_) {
    (void)r->channel.send_control({id++, static_cast<std::uint32_t>(ipc::ControlOp::kShutdown), 0, 0, 0});
  }
  int failed = 0;
  for (auto& r : runners_) {
    int status = 0;
    if (::waitpid(std::exchange(r->pid, -1), &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      ++failed;
    }
  }
  runners_.clear();
  if (failed > 0) throw std::runtime_error(std::to_string(failed) + " firerunner(s) did not exit 0 on kShutdown");
}

}  // namespace snapfaas::bench
