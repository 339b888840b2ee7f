// bench_density: how many restored VMs of one function fit. N = 1, 10, 50, 100 ring-3 VMs
// (128 MiB each) restored lazily from one base + diff, each in its own process (a child forked
// from this bench that opens /dev/kvm and holds one RestoreTarget, as a firerunner holds its VM;
// firerunner's ring-3 restore itself ends with its guest, so it cannot be kept alive to measure).
// Each child is pre-spawned (VM created and prepared), restores on the parent's signal, serves one
// request (tests/runner/snapshot/density_guest.c: reads its runtime and function pages, writes a
// 64-page response area) and stays alive with its VM. Per N: PSS and RSS
// per VM (/proc/PID/smaps_rollup), the host memory used (MemAvailable drop since before the first
// VM), restore latency p50 of the VMs added at that step, and the guest pages each VM dirtied
// serving its request (KVM dirty log).
// Then the same N for real firerunner processes (bench/runner_fleet.h: ring-3 echo guest restored
// from one base snapshot with --load_dir, a channel each, seccomp on, one request served, parked):
// the figures the targets are stated in (issue 20): pss_per_vm_mib_100 (whole-process PSS per
// firerunner at N=100) against dirty_per_vm_mib (the guest RAM each wrote: Private_Dirty of its
// guest RAM mappings) + 1 MiB, and runner_rss_mib (one firerunner's whole RSS, median) against
// 3 MiB; runner_breakdown_* splits each process's memory by mapping (guest RAM, binary, libraries,
// heap, stacks, anonymous, channel shm, KVM).
// Usage: bench_density --out FILE.json [--quick] [--firerunner PATH] [--smaps FILE]
//   --firerunner: measure another build's runner (A/B); --smaps: keep one runner's smaps
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "bench/runner_fleet.h"
#include "runner/snapshot/restore_target.h"
#include "runner/snapshot/snapshot.h"
#include "tests/runner/snapshot/ring3_harness.h"

namespace fs = std::filesystem;
using namespace snapfaas::runner;
using namespace snapfaas::runner::snapshot;
using namespace snapfaas::runner::snapshot::test;
using Clock = std::chrono::steady_clock;

namespace {
constexpr std::uint64_t kMem = 128 * kMiB;

/// What a child reports once its VM is restored and has served its request.
struct ChildReport {
  double restore_ms = -1;  ///< restore() + the first KVM_RUN to the guest's first exit
  std::uint64_t dirty_pages = 0;
  int status = -1;  ///< guest exit code (7 = runtime and function pages intact)
  std::uint64_t ram_start = 0;  ///< host address range of guest RAM in the child
  std::uint64_t ram_end = 0;
};

/// One VM's process. Reads one byte (go) from `go_fd`, restores, serves, writes a ChildReport to
/// `report_fd`, then blocks until `go_fd` reaches EOF (the parent closes it) and exits.
[[noreturn]] void child_main(const std::vector<std::string>& chain, int go_fd, int report_fd) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  ChildReport rep;
  try {
    const KvmSystem kvm = KvmSystem::open();
    RestoreTarget t = RestoreTarget::create(kvm, kMem, 1, false);
    const LoadedSnapshot snap = load_snapshot(chain);
    t.prepare(snap);
    char go = 0;
    if (::read(go_fd, &go, 1) != 1) _exit(2);
    const auto t0 = Clock::now();
    (void)t.restore(snap, {});
    Ring3Harness h(t, true);
    h.run_to_exit();
    rep.restore_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    const Stop stop = h.run();
    rep.status = stop == Stop::kExit ? h.exit_code() : -1;
    const GuestRegion& ram = t.memory().regions().front();
    rep.ram_start = reinterpret_cast<std::uintptr_t>(ram.mapping.data());
    rep.ram_end = reinterpret_cast<std::uintptr_t>(t.memory().regions().back().mapping.data()) +
                  t.memory().regions().back().mapping.size();
    std::uint32_t slot = 0;
    for (const GuestRegion& r : t.memory().regions()) {
      for (std::uint64_t word : t.vm().dirty_log(slot++, r.mapping.size())) rep.dirty_pages += std::popcount(word);
    }
    if (::write(report_fd, &rep, sizeof rep) != sizeof rep) _exit(3);
    while (::read(go_fd, &go, 1) > 0) {
    }
    _exit(0);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_density child: %s\n", e.what());
    (void)::write(report_fd, &rep, sizeof rep);
    _exit(1);
  }
}

struct Child {
  pid_t pid = -1;
  int go_fd = -1;
  int report_fd = -1;
  std::uint64_t ram_start = 0, ram_end = 0;
};

/// Rss, Pss, Private_Dirty (KiB) from /proc/PID/smaps_rollup.
struct Smaps {
  double rss_kib = 0, pss_kib = 0, private_dirty_kib = 0;
};
Smaps smaps_rollup(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps_rollup");
  Smaps s;
  std::string key;
  double value = 0;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    if (!(ls >> key >> value)) continue;
    if (key == "Rss:") s.rss_kib = value;
    if (key == "Pss:") s.pss_kib = value;
    if (key == "Private_Dirty:") s.private_dirty_kib = value;
  }
  return s;
}

/// Rss and Pss (KiB) of the child's mappings inside [start, end): its guest RAM (the base file, the
/// diff ranges and the copy-on-write pages written since).
Smaps guest_smaps(pid_t pid, std::uint64_t start, std::uint64_t end) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps");
  Smaps s;
  bool inside = false;
  std::string line;
  while (std::getline(in, line)) {
    const std::size_t dash = line.find('-');
    const std::size_t sp = line.find(' ');
    if (dash != std::string::npos && sp != std::string::npos && dash < sp && line[sp - 1] != ':') {
      const std::uint64_t lo = std::stoull(line.substr(0, dash), nullptr, 16);
      inside = lo >= start && lo < end;
      continue;
    }
    if (!inside) continue;
    std::istringstream ls(line);
    std::string key;
    double value = 0;
    if (!(ls >> key >> value)) continue;
    if (key == "Rss:") s.rss_kib += value;
    if (key == "Pss:") s.pss_kib += value;
    if (key == "Private_Dirty:") s.private_dirty_kib += value;
  }
  return s;
}

double mem_available_mib() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  double kib = 0;
  std::string unit;
  while (in >> key >> kib >> unit) {
    if (key == "MemAvailable:") return kib / 1024;
  }
  return 0;
}

double p50(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/// Ends every child: EOF on its go pipe, then waits for it.
void stop_all(std::vector<Child>& children) {
  for (Child& c : children) {
    if (c.go_fd >= 0) ::close(c.go_fd);
    if (c.report_fd >= 0) ::close(c.report_fd);
  }
  for (Child& c : children) {
    int ws = 0;
    if (c.pid > 0) ::waitpid(c.pid, &ws, 0);
  }
  children.clear();
}

double median(std::vector<double> v) { return p50(std::move(v)); }

/// The firerunner part: N real runners (see the file comment); adds its keys to `j`.
void measure_runners(const std::vector<int>& steps, const std::string& firerunner, const std::string& dir,
                     const std::string& smaps_copy, nlohmann::json& j) {
  snapfaas::bench::RunnerFleet fleet(firerunner, SNAPFAAS_ECHO_GUEST, dir, kMem / kMiB);
  std::vector<double> n_arr, pss_arr, rss_arr, proc_pss_arr, proc_rss_arr, guest_pss_arr, guest_dirty_arr,
      spawn_arr, threads_arr, rss_median_arr;
  std::map<std::string, snapfaas::bench::MemFigures> breakdown;  // at the last N, summed
  for (const int n : steps) {
    std::vector<double> spawn;
    while (static_cast<int>(fleet.pids().size()) < n) spawn.push_back(fleet.add_one());
    snapfaas::bench::MemFigures total, proc, guest;
    std::vector<double> rss_each, dirty_each;
    double threads = 0;
    breakdown.clear();
    for (const pid_t pid : fleet.pids()) {
      const snapfaas::bench::ProcessMemory pm =
          snapfaas::bench::process_memory(pid, fs::canonical(firerunner).string(), fleet.snapshot(), kMem);
      total.add(pm.total);
      proc.add(pm.process_only());
      const auto g = pm.by_category.find("guest_ram");
      if (g != pm.by_category.end()) guest.add(g->second);
      dirty_each.push_back(g != pm.by_category.end() ? g->second.private_dirty_kib / 1024 : 0);
      rss_each.push_back(pm.total.rss_kib / 1024);
      threads += pm.threads;
      for (const auto& [cat, m] : pm.by_category) breakdown[cat].add(m);
    }
    n_arr.push_back(n);
    pss_arr.push_back(total.pss_kib / 1024 / n);
    rss_arr.push_back(total.rss_kib / 1024 / n);
    proc_pss_arr.push_back(proc.pss_kib / 1024 / n);
    proc_rss_arr.push_back(proc.rss_kib / 1024 / n);
    guest_pss_arr.push_back(guest.pss_kib / 1024 / n);
    guest_dirty_arr.push_back(median(dirty_each));
    rss_median_arr.push_back(median(rss_each));
    threads_arr.push_back(threads / n);
    spawn_arr.push_back(median(spawn));
    std::printf("firerunner N=%3d  PSS %.3f MiB/VM (guest RAM %.3f, process %.3f)  RSS %.3f MiB (median; process "
                "%.3f)  guest dirty %.3f MiB  threads %.1f  spawn-to-answer p50 %.1f ms\n",
                n, pss_arr.back(), guest_pss_arr.back(), proc_pss_arr.back(), rss_median_arr.back(),
                proc_rss_arr.back(), guest_dirty_arr.back(), threads_arr.back(), spawn_arr.back());
  }
  const double n_last = n_arr.back();
  if (!smaps_copy.empty()) {
    std::ofstream(smaps_copy) << std::ifstream("/proc/" + std::to_string(fleet.pids().front()) + "/smaps").rdbuf();
  }
  nlohmann::json by;
  for (const auto& [cat, m] : breakdown) {
    by[cat] = {{"pss_mib", m.pss_kib / 1024 / n_last}, {"rss_mib", m.rss_kib / 1024 / n_last},
               {"private_dirty_mib", m.private_dirty_kib / 1024 / n_last}};
    std::printf("  %-10s PSS %.3f  RSS %.3f  private dirty %.3f MiB per runner\n", cat.c_str(), m.pss_kib / 1024 / n_last,
                m.rss_kib / 1024 / n_last, m.private_dirty_kib / 1024 / n_last);
  }
  fleet.stop_all();
  j["runner_n"] = n_arr;
  j["runner_pss_mib_per_vm"] = pss_arr;
  j["runner_rss_mib_per_vm"] = rss_arr;
  j["runner_rss_mib_median"] = rss_median_arr;
  j["runner_process_pss_mib_per_vm"] = proc_pss_arr;
  j["runner_process_rss_mib_per_vm"] = proc_rss_arr;
  j["runner_guest_pss_mib_per_vm"] = guest_pss_arr;
  j["runner_guest_dirty_mib"] = guest_dirty_arr;
  j["runner_threads"] = threads_arr;
  j["runner_spawn_to_answer_p50_ms"] = spawn_arr;
  j["runner_breakdown_at_max_n"] = by;
  const double dirty = guest_dirty_arr.back();
  const double pss = pss_arr.back();
  const double rss = rss_median_arr.back();
  j["pss_per_vm_mib_100"] = n_last == 100 ? nlohmann::json(pss) : nlohmann::json(nullptr);
  j["pss_per_vm_mib_max_n"] = pss;
  j["dirty_per_vm_mib"] = dirty;
  j["runner_rss_mib"] = rss;
  j["runner_process_pss_mib"] = proc_pss_arr.back();
  j["target_pss_mib"] = dirty + 1.0;
  j["target_pss_met"] = pss <= dirty + 1.0;
  j["target_runner_rss_mib"] = 3.0;
  j["target_runner_rss_met"] = rss <= 3.0;
  j["runner_notes"] =
      "runner_*: real firerunner processes (" + fs::canonical(firerunner).string() +
      "), ring-3 echo guest restored from one base snapshot (--load_dir, 128 MiB, own channel, seccomp on), one "
      "request each, then parked. pss_per_vm_mib_100: whole-process PSS per runner at N=100 (smaps: guest RAM + "
      "the VMM process: binary, libraries, heap, stacks, channel, KVM pages); dirty_per_vm_mib: Private_Dirty of "
      "the guest RAM mappings (the guest pages the VM wrote since the snapshot, median); runner_process_*: the "
      "process without its guest RAM; runner_rss_mib: median whole-process RSS of one runner at the last N. "
      "Targets (issue 20): pss <= dirty + 1 MiB, runner RSS <= 3 MiB";
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench_density: memory and restore latency of N restored ring-3 VMs (128 MiB each)"};
  std::string out;
  bool quick = false;
  app.add_option("--out", out, "JSON results file")->required();
  app.add_flag("--quick", quick, "N = 1, 10 only");
  std::string firerunner = SNAPFAAS_FIRERUNNER;
  app.add_option("--firerunner", firerunner, "firerunner binary for the runner part (default: this build's)");
  std::string smaps_copy;
  app.add_option("--smaps", smaps_copy, "copy the first runner's /proc/PID/smaps here at the last N");
  CLI11_PARSE(app, argc, argv);
  const std::vector<int> steps = quick ? std::vector<int>{1, 10} : std::vector<int>{1, 10, 50, 100};
  char tmpl[] = "/tmp/snapfaas_bench_density_XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  std::vector<Child> children;
  int rc = 0;
  try {
    const std::string base = dir + "/base", diff = dir + "/diff";
    {
      const KvmSystem kvm = KvmSystem::open();
      SnapshotId base_id{};
      {
        RestoreTarget t = RestoreTarget::create(kvm, kMem, 1, false);
        boot_ring3(t, SNAPFAAS_DENSITY_GUEST);
        Ring3Harness h(t, false);
        if (h.run() != Stop::kSnapshot) throw std::runtime_error("boot: no snapshot point: " + h.error());
        base_id = h.snapshot(base, std::nullopt).id;
      }
      RestoreTarget t = RestoreTarget::create(kvm, kMem, 1, false);
      (void)t.restore(load_snapshot(std::vector<std::string>{base}), {});
      Ring3Harness h(t, true);
      if (h.run() != Stop::kSnapshot) throw std::runtime_error("restore: no snapshot point: " + h.error());
      (void)h.snapshot(diff, base_id);
    }
    const std::vector<std::string> chain{base, diff};
    const double avail0 = mem_available_mib();
    nlohmann::json j;
    j["benchmark"] = "density";
    j["guest_mem_mib"] = kMem / kMiB;
    j["vm_kind"] =
        "one child process per VM (forked from the bench, own /dev/kvm fd and RestoreTarget: VM, 128 MiB memslot, "
        "1 vCPU), pre-spawned and prepared, restored lazily (base MAP_PRIVATE + diff ranges) from one base+diff of "
        "the ring-3 density guest (64 runtime pages in the base, 16 function pages in the diff), then one request "
        "served (reads both, writes 64 pages); not firerunner processes";
    std::vector<double> n_arr, pss_arr, rss_arr, host_arr, restore_arr, private_dirty_arr, guest_pss_arr,
        guest_rss_arr, guest_dirty_arr;
    std::vector<double> dirty_mib;
    std::size_t done = 0;
    const auto started = Clock::now();
    for (const int n : steps) {
      std::vector<double> step_restore;
      while (static_cast<int>(children.size()) < n) {
        int go[2], rep[2];
        if (::pipe2(go, O_CLOEXEC) != 0 || ::pipe2(rep, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
        const pid_t pid = ::fork();
        if (pid < 0) throw std::runtime_error("fork");
        if (pid == 0) {
          ::close(go[1]);
          ::close(rep[0]);
          child_main(chain, go[0], rep[1]);
        }
        ::close(go[0]);
        ::close(rep[1]);
        children.push_back({pid, go[1], rep[0], 0, 0});
        // Go, then wait for its report: VMs restore one at a time with the others alive.
        const char g = 1;
        if (::write(go[1], &g, 1) != 1) throw std::runtime_error("child go pipe");
        ChildReport r;
        if (::read(rep[0], &r, sizeof r) != sizeof r || r.restore_ms < 0) throw std::runtime_error("child failed");
        if (r.status != 7) throw std::runtime_error("restored guest found its memory wrong: " + std::to_string(r.status));
        children.back().ram_start = r.ram_start;
        children.back().ram_end = r.ram_end;
        step_restore.push_back(r.restore_ms);
        dirty_mib.push_back(static_cast<double>(r.dirty_pages) * 4096 / static_cast<double>(kMiB));
        ++done;
      }
      double pss = 0, rss = 0, private_dirty = 0, guest_pss = 0, guest_rss = 0, guest_dirty = 0;
      for (const Child& c : children) {
        const Smaps s = smaps_rollup(c.pid);
        pss += s.pss_kib;
        rss += s.rss_kib;
        private_dirty += s.private_dirty_kib;
        const Smaps g = guest_smaps(c.pid, c.ram_start, c.ram_end);
        guest_pss += g.pss_kib;
        guest_rss += g.rss_kib;
        guest_dirty += g.private_dirty_kib;
      }
      const double host = avail0 - mem_available_mib();
      n_arr.push_back(n);
      pss_arr.push_back(pss / 1024 / n);
      rss_arr.push_back(rss / 1024 / n);
      private_dirty_arr.push_back(private_dirty / 1024 / n);
      guest_pss_arr.push_back(guest_pss / 1024 / n);
      guest_rss_arr.push_back(guest_rss / 1024 / n);
      guest_dirty_arr.push_back(guest_dirty / 1024 / n);
      host_arr.push_back(host);
      restore_arr.push_back(p50(step_restore));
      std::printf("N=%3d  PSS %.2f MiB/VM (guest RAM %.3f)  RSS %.2f MiB/VM (guest RAM %.3f)  private dirty %.2f "
                  "MiB/VM (guest RAM %.3f)  host %.1f MiB total  restore p50 %.3f ms (VMs %zu..%d)\n",
                  n, pss_arr.back(), guest_pss_arr.back(), rss_arr.back(), guest_rss_arr.back(),
                  private_dirty_arr.back(), guest_dirty_arr.back(), host, restore_arr.back(),
                  done - step_restore.size() + 1, n);
    }
    j["n"] = n_arr;
    j["pss_mib_per_vm"] = pss_arr;
    j["rss_mib_per_vm"] = rss_arr;
    j["private_dirty_mib_per_vm"] = private_dirty_arr;
    j["guest_pss_mib_per_vm"] = guest_pss_arr;
    j["guest_rss_mib_per_vm"] = guest_rss_arr;
    j["guest_private_dirty_mib_per_vm"] = guest_dirty_arr;
    j["pss_notes"] = "pss/rss/private_dirty_mib_per_vm: whole process (smaps_rollup: the VMM process's heap, stacks, "
                     "libraries, kvm_run page and guest RAM); guest_*: only the guest RAM mappings (smaps entries "
                     "inside the RAM range: base file pages shared in the page cache, diff pages, CoW copies)";
    j["host_mib_total"] = host_arr;
    j["restore_p50_ms"] = restore_arr;
    j["restore_notes"] = "restore_p50_ms[i]: p50 over the VMs added since the previous N (restore() + first exit of "
                         "a pre-spawned, prepared VM, with the earlier VMs alive)";
    j["host_notes"] = "host_mib_total: MemAvailable drop since before the first VM (includes KVM's kernel memory; "
                      "other processes on the machine add noise)";
    if (steps.back() == 100) {
      j["pss_per_vm_mib_at_100"] = pss_arr.back();
    } else {
      j["pss_per_vm_mib_at_100"] = nullptr;
      j["pss_per_vm_mib_at_max_n"] = pss_arr.back();
    }
    j["dirty_mib_per_vm"] = p50(dirty_mib);
    j["dirty_notes"] = "guest pages each VM wrote while serving its one request (KVM dirty log), p50 over all VMs";
    j["duration_s"] = std::chrono::duration<double>(Clock::now() - started).count();
    stop_all(children);
    measure_runners(steps, firerunner, dir, smaps_copy, j);
    std::ofstream(out) << j.dump(2) << "\n";
    std::printf("dirty per VM after one request: %.3f MiB; %s\n", p50(dirty_mib), out.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_density: %s\n", e.what());
    rc = 1;
  }
  stop_all(children);
  fs::remove_all(dir);
  return rc;
}
