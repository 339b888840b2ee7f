// Shared round-trip benchmark harness (see rtt_harness.h).
#include "bench/rtt_harness.h"

#include <sched.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <thread>
#include <utility>

#include "common/error.h"
#include "tests/ipc/test_support.h"

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

UnixPeer::UnixPeer(std::vector<std::uint8_t> payload, std::size_t response_size)
    : request_(4 + payload.size()), response_(response_size) {
  int fds[2];
  common::check_sys(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), "socketpair");
  fd_.reset(fds[0]);
  server_fd_.reset(fds[1]);
  const auto len = static_cast<std::uint32_t>(payload.size());
  std::memcpy(request_.data(), &len, 4);
  std::memcpy(request_.data() + 4, payload.data(), payload.size());
}

void UnixPeer::start() {
  child_ = ipc::test::fork_child([this] {
    fd_.reset();
    std::vector<std::uint8_t> frame(4 + kMaxPayload);
    for (;;) {
      std::uint32_t n = 0;
      if (!read_full(server_fd_.get(), &n, 4)) return 2;
      if (n == 0) return 0;
      if (n > kMaxPayload || !read_full(server_fd_.get(), frame.data() + 4, n)) return 3;
      const std::span<const std::uint8_t> out = answer(std::span(frame).first(4 + n));
      if (!write_full(server_fd_.get(), out.data(), out.size())) return 4;
    }
  });
  server_fd_.reset();
}

std::span<const std::uint8_t> UnixPeer::payload() const noexcept { return std::span(request_).subspan(4); }

double UnixPeer::round_trip() {
  const auto t0 = std::chrono::steady_clock::now();
  std::uint32_t got = 0;
  if (!write_full(fd_.get(), request_.data(), request_.size()) || !read_full(fd_.get(), &got, 4) ||
      got != response_.size() || !read_full(fd_.get(), response_.data(), response_.size())) {
    throw common::sys_error("unix round trip");
  }
  const auto t1 = std::chrono::steady_clock::now();
  check(response_);
  return std::chrono::duration<double, std::micro>(t1 - t0).count();
}

void UnixPeer::stop() {
  if (child_ <= 0) return;
  const std::uint32_t zero = 0;
  (void)write_full(fd_.get(), &zero, 4);
  if (ipc::test::wait_child(std::exchange(child_, 0)) != 0) throw common::Error("unix: server failed");
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

void idle_gap(int gap_us) {
  if (gap_us <= 0) return;
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(gap_us);
  if (gap_us >= kSleepGapMinUs) {
    std::this_thread::sleep_until(until);
    return;
  }
  while (std::chrono::steady_clock::now() < until) {
  }
}

void run_interleaved(std::vector<Series>& series, int warmup, int rounds) {
  auto run = [](Series& s, int n, bool record) {
    if (s.pin_client) pin_to(0);
    for (int i = 0; i < n; ++i) {
      idle_gap(s.gap_us);
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

int rtt_main(int argc, char** argv, const BenchInfo& info,
             const std::function<void(bool quick, nlohmann::json& figures)>& body) {
  CLI::App app{info.description};
  std::string out;
  bool quick = false;
  app.add_option("--out", out, "write the figures as JSON to this file");
  app.add_flag("--quick", quick, info.quick_help);
  CLI11_PARSE(app, argc, argv);

  try {
    nlohmann::json j;
    j["benchmark"] = info.name;
    j["quick"] = quick;
    body(quick, j);
    write_json(out, j);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_%s: %s\n", info.name, e.what());
    return 1;
  }
  return 0;
}

}  // namespace snapfaas::bench
