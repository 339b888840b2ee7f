// bench_boot: VM start-up latency.
//  ring3_boot_*: native ring-3 guest (tests/guests/exit_guest.c), time from just before fork+exec of
//    firerunner to the guest's first port write (firerunner logs CLOCK_MONOTONIC of it at debug
//    level); also process start → exit.
//  linux_boot_emulated_*: Linux guest inside the emulated KVM host (scripts/kvm-host.sh), firerunner
//    start → the guest init's first command printing a marker (bench/boot_linux_inner.sh); null
//    with a reason when the images or the script are missing, or with --quick.
// Usage: bench_boot --out FILE.json [--quick] [--runs N]
#include <fcntl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {

std::int64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto idx = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(idx, v.size() - 1)];
}

struct Run {
  int status = -1;
  std::string output;  // stdout + stderr
};

// fork + exec with stdout/stderr into one pipe; returns the status and all output.
Run run(const std::vector<std::string>& argv) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::dup2(fds[1], STDERR_FILENO);
    ::execv(args[0], args.data());
    _exit(127);
  }
  ::close(fds[1]);
  Run r;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) r.output.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int ws = 0;
  ::waitpid(pid, &ws, 0);
  r.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
  return r;
}

std::optional<std::int64_t> find_number(const std::string& text, const std::string& key) {
  const auto pos = text.find(key);
  if (pos == std::string::npos) return std::nullopt;
  return std::stoll(text.substr(pos + key.size()));
}

nlohmann::json stats(const std::vector<double>& v) {
  return {{"p50", percentile(v, 50)}, {"p99", percentile(v, 99)}, {"min", *std::min_element(v.begin(), v.end())},
          {"max", *std::max_element(v.begin(), v.end())}, {"runs", v.size()}};
}

}  // namespace

int main(int argc, char** argv) {
  std::string out_path;
  bool quick = false;
  int runs = 0;
  int linux_runs = 3;
  CLI::App app{"bench_boot: ring-3 boot latency (native) and Linux boot latency (emulated KVM host)"};
  app.add_option("--out", out_path, "JSON result file")->required();
  app.add_flag("--quick", quick, "fewer runs, skip the emulated Linux boot");
  app.add_option("--runs", runs, "ring-3 runs (default 100, 20 with --quick)");
  app.add_option("--linux-runs", linux_runs, "Linux boots inside one emulated host session");
  CLI11_PARSE(app, argc, argv);
  if (runs <= 0) runs = quick ? 20 : 100;

  const std::string firerunner = SNAPFAAS_FIRERUNNER;
  const std::string guest = SNAPFAAS_GUEST_DIR "/guest_exit";
  nlohmann::json result = {{"benchmark", "boot"}, {"quick", quick}};

  std::vector<double> first_io_ms, exit_ms;
  for (int i = 0; i < runs; ++i) {
    const std::int64_t t0 = now_ns();
    const Run r = run({firerunner, "--kernel", guest, "--mem_size", "128", "--log-level", "debug"});
    const std::int64_t t1 = now_ns();
    const auto io = find_number(r.output, "monotonic_ns=");
    if (r.status != 42 || !io) {
      std::cerr << "bench_boot: firerunner run " << i << " failed (status " << r.status << "):\n" << r.output;
      return 1;
    }
    first_io_ms.push_back(static_cast<double>(*io - t0) / 1e6);
    exit_ms.push_back(static_cast<double>(t1 - t0) / 1e6);
  }
  result["ring3_boot_p50_ms"] = percentile(first_io_ms, 50);
  result["ring3_boot_p99_ms"] = percentile(first_io_ms, 99);
  result["ring3_boot_first_io_ms"] = stats(first_io_ms);
  result["ring3_process_exit_ms"] = stats(exit_ms);
  result["ring3_guest"] = "tests/guests/exit_guest.c, 128 MiB, 1 vCPU; process start = before fork+exec";
  std::printf("ring-3 boot (fork+exec -> first guest port write): p50 %.3f ms, p99 %.3f ms over %d runs\n",
              percentile(first_io_ms, 50), percentile(first_io_ms, 99), runs);
  std::printf("ring-3 process start -> exit: p50 %.3f ms\n", percentile(exit_ms, 50));

  // Linux inside the emulated KVM host.
  const std::string root = SNAPFAAS_SOURCE_DIR;
  const std::string kvm_host = root + "/scripts/kvm-host.sh";
  const std::string inner = root + "/bench/boot_linux_inner.sh";
  std::string reason;
  if (quick) {
    reason = "skipped with --quick (an emulated-host boot takes tens of seconds)";
  } else if (!std::filesystem::exists(kvm_host)) {
    reason = "scripts/kvm-host.sh not present";
  } else if (!std::filesystem::exists(root + "/.cache/images/vmlinux") ||
             !std::filesystem::exists(root + "/.cache/images/rootfs.ext4")) {
    reason = "guest images missing (.cache/images/vmlinux, rootfs.ext4: scripts/build-images.sh)";
  }
  if (reason.empty()) {
    const Run r = run({"/bin/bash", kvm_host, "--auto", "--timeout", "900", "--", "/bin/bash", inner, firerunner,
                       std::to_string(linux_runs)});
    std::vector<double> linux_ms;
    std::istringstream lines(r.output);
    for (std::string line; std::getline(lines, line);) {
      if (const auto v = find_number(line, "linux_boot_us=")) linux_ms.push_back(static_cast<double>(*v) / 1e3);
    }
    if (r.status != 0 || linux_ms.empty()) {
      reason = "emulated-host run failed (status " + std::to_string(r.status) + ")";
      std::cerr << r.output;
    } else {
      result["linux_boot_emulated_p50_ms"] = percentile(linux_ms, 50);
      result["linux_boot_emulated_ms"] = stats(linux_ms);
      std::printf("Linux boot in the emulated host (firerunner start -> init runs its command): p50 %.1f ms\n",
                  percentile(linux_ms, 50));
    }
  }
  if (!reason.empty()) {
    result["linux_boot_emulated_p50_ms"] = nullptr;
    result["linux_boot_emulated_reason"] = reason;
    std::printf("Linux boot (emulated host): not measured: %s\n", reason.c_str());
  }
  std::ofstream(out_path) << result.dump(2) << "\n";
  return 0;
}
