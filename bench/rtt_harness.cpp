// Shared round-trip benchmark harness (see rtt_harness.h).
#include "bench/rtt_harness.h"

#include <sched.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/error.h"

namespace snapfaas::bench {

void pin_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  const int cpus = static_cast<int>(std::thread::hardware_concurrency());
  for (int c = 0; c < cpus; ++c) {
    if (cpu < 0 || c == cpu) CPU_SET(c, &set);
  }
  common::check_sys(::sched_setaffinity(0, sizeof set, &set), "sched_setaffinity");
}

void throw_fork_error() { throw common::sys_error("fork"); }

bool child_succeeded(pid_t pid) {
  int status = 0;
  return ::waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

bool read_full(int fd, void* buf, std::size_t n) {
  auto* p = static_cast<std::uint8_t*>(buf);
  while (n > 0) {
    const ssize_t r = ::read(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

bool write_full(int fd, const void* buf, std::size_t n) {
  const auto* p = static_cast<const std::uint8_t*>(buf);
  while (n > 0) {
    const ssize_t r = ::write(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

std::string size_label(std::size_t size) {
  return size >= 1024 ? std::to_string(size / 1024) + "KiB" : std::to_string(size) + "B";
}

double percentile(std::vector<double> v, double p) {
  const std::size_t k = std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

nlohmann::json machine_info() {
  nlohmann::json m;
  m["cores"] = std::thread::hardware_concurrency();
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      m["cpu"] = line.substr(line.find(':') + 2);
      break;
    }
  }
  utsname u{};
  if (::uname(&u) == 0) m["kernel"] = u.release;
  m["kvm"] = std::filesystem::exists("/sys/module/kvm_pvm") ? "pvm" : "native-or-none";
  double load[1] = {0};
  if (::getloadavg(load, 1) == 1) m["loadavg_1m"] = load[0];
  return m;
}

void run_interleaved(std::vector<Series>& series, int warmup, int rounds) {
  auto run = [](Series& s, int n, bool record) {
    if (s.pin_client) pin_to(0);
    for (int i = 0; i < n; ++i) {
      const double us = s.peer->round_trip();
      if (record) s.us.push_back(us);
    }
    if (s.pin_client) pin_to(-1);
  };
  for (Series& s : series) {
    run(s, warmup, false);
    s.us.reserve(static_cast<std::size_t>(s.iterations));
  }
  for (int round = 0; round < rounds; ++round) {
    for (Series& s : series) run(s, s.iterations / rounds, true);
  }
  for (Series& s : series) s.peer->stop();
}

void report_series(const std::vector<Series>& series, nlohmann::json& j) {
  std::printf("%-14s %8s %10s %10s %10s %8s\n", "case", "size", "p50 us", "p99 us", "mean us", "n");
  for (const Series& s : series) {
    const std::string label = size_label(s.size);
    double sum = 0;
    for (double x : s.us) sum += x;
    const double p50 = percentile(s.us, 0.50), p99 = percentile(s.us, 0.99);
    const double mean = sum / static_cast<double>(s.us.size());
    std::printf("%-14s %8s %10.2f %10.2f %10.2f %8zu\n", s.mode.c_str(), label.c_str(), p50, p99, mean, s.us.size());
    j[s.mode + "_p50_us_" + label] = p50;
    j[s.mode + "_p99_us_" + label] = p99;
    j[s.mode + "_mean_us_" + label] = mean;
    j["iterations_" + label] = s.us.size();
  }
}

void write_json(const std::string& path, const nlohmann::json& j) {
  if (path.empty()) return;
  std::ofstream f(path);
  f << j.dump(2) << '\n';
  if (!f) throw common::Error("write " + path + ": failed");
}

}  // namespace snapfaas::bench
