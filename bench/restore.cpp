// bench_restore: host-side restore latency of a native ring-3 guest (128 MiB, base + diff), from
// "restore requested" to the guest's first instruction (its first exit), broken down into snapshot
// load/validation, memory mapping, VM state, vCPU state (per ioctl) and the first KVM_RUN, for
//  (a) a pre-spawned VM: created ahead, and prepared ahead as a runner that knows its candidate
//      functions would (snapshot files opened and validated, base mapped, vCPU entered once);
//      also without the preparation ("cold") and without the vCPU entry;
//  (b1) a fresh VM in this process (KVM_CREATE_VM + memslots + vCPU + load + restore);
//  (b2) a fresh runner process: fork+exec firerunner --load_dir base,diff to the guest's first
//       port write after the restore (the spawn-on-demand cold start a user pays);
// lazy vs eager memory; page faults of the first request; working-set prefetch; and a VM that ran
// a guest and is restored again (it must flush KVM's shadow MMU). Each series also gets its total
// latency at p1..p99 (a CDF).
// Usage: bench_restore --out FILE.json [--quick] [--dir DIR]
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "runner/snapshot/restore_target.h"
#include "runner/snapshot/snapshot.h"
#include "runner/snapshot/working_set.h"
#include "runner/window/restore_record_writer.h"
#include "ipc/channel.h"
#include "tests/runner/snapshot/ring3_harness.h"

namespace fs = std::filesystem;
using namespace snapfaas::runner;
using namespace snapfaas::runner::snapshot;
using namespace snapfaas::runner::snapshot::test;
using Clock = std::chrono::steady_clock;

namespace {
constexpr std::uint64_t kMem = 128 * kMiB;

double ms(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); }

long minor_faults() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return ru.ru_minflt;
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(std::lround(q * static_cast<double>(v.size() - 1)))];
}

/// p1..p99 of `v`, rounded to 0.1 us: the compact CDF the plots draw.
nlohmann::json cdf(const std::vector<double>& v) {
  nlohmann::json out = nlohmann::json::array();
  for (int p = 1; p <= 99; ++p) out.push_back(std::round(percentile(v, p / 100.0) * 1e4) / 1e4);
  return out;
}

/// How the VM stands when the request arrives.
enum class Mode {
  kCold,      // created ahead (memslots, vCPU); snapshot loaded and validated inside the request
  kPrepared,  // created and prepared ahead (files open, base mapped, vCPU state read back)
  kFresh,     // nothing ahead: KVM_CREATE_VM, memslots, vCPU inside the request
  kReused,    // a VM that restored and ran the guest before, restored again (shadow MMU flush)
};

struct Sample {
  double create_ms = 0, load_ms = 0, memory_ms = 0, prefetch_ms = 0, flush_ms = 0, vm_state_ms = 0,
         vcpu_state_ms = 0, dirty_log_ms = 0, first_exit_ms = 0, total_ms = 0, request_ms = 0,
         prepare_ms = 0;  // pre-spawn time (not in total): RestoreTarget::prepare
  VcpuApplyStats vcpu;
  long faults_request = 0;
  std::size_t layers_premapped = 0;
};

struct Series {
  std::vector<Sample> s;
  [[nodiscard]] std::vector<double> values(double Sample::*field) const {
    std::vector<double> v;
    for (const Sample& x : s) v.push_back(x.*field);
    return v;
  }
  [[nodiscard]] double p50(double Sample::*field) const { return percentile(values(field), 0.5); }
  [[nodiscard]] double vcpu_p50(double VcpuApplyStats::*field) const {
    std::vector<double> v;
    for (const Sample& x : s) v.push_back(x.vcpu.*field);
    return percentile(v, 0.5);
  }
  [[nodiscard]] nlohmann::json json() const {
    nlohmann::json j;
    const std::pair<const char*, double Sample::*> fields[] = {
        {"create_vm", &Sample::create_ms},   {"load_validate", &Sample::load_ms}, {"memory_map", &Sample::memory_ms},
        {"prefetch", &Sample::prefetch_ms},  {"mmu_flush", &Sample::flush_ms},    {"vm_state", &Sample::vm_state_ms},
        {"vcpu_state", &Sample::vcpu_state_ms}, {"dirty_log_clear", &Sample::dirty_log_ms},
        {"first_exit", &Sample::first_exit_ms}, {"total", &Sample::total_ms},   {"first_request", &Sample::request_ms},
        {"prepare_ahead", &Sample::prepare_ms}};
    for (const auto& [name, f] : fields) j[std::string(name) + "_p50_ms"] = p50(f);
    const std::pair<const char*, double VcpuApplyStats::*> ioctls[] = {
        {"sregs", &VcpuApplyStats::sregs_ms},   {"regs", &VcpuApplyStats::regs_ms},
        {"xsave", &VcpuApplyStats::xsave_ms},   {"xcrs", &VcpuApplyStats::xcrs_ms},
        {"msrs", &VcpuApplyStats::msrs_ms},     {"lapic", &VcpuApplyStats::lapic_ms},
        {"events", &VcpuApplyStats::events_ms}, {"mp_state", &VcpuApplyStats::mp_state_ms}};
    for (const auto& [name, f] : ioctls) j["vcpu_ioctl_p50_ms"][name] = vcpu_p50(f);
    j["vcpu_set_ioctls"] = s.empty() ? 0 : s.back().vcpu.ioctls;
    j["vcpu_set_ioctls_skipped"] = s.empty() ? 0 : s.back().vcpu.skipped;
    j["layers_premapped"] = s.empty() ? 0 : s.back().layers_premapped;
    j["total_p90_ms"] = percentile(values(&Sample::total_ms), 0.9);
    j["total_p99_ms"] = percentile(values(&Sample::total_ms), 0.99);
    std::vector<double> faults;
    for (const Sample& x : s) faults.push_back(static_cast<double>(x.faults_request));
    j["minor_faults_first_request_p50"] = percentile(faults, 0.5);
    j["iterations"] = s.size();
    j["total_cdf_ms"] = cdf(values(&Sample::total_ms));
    return j;
  }
};

/// One restore as `mode` describes, then the guest's "request" (check A, write B) to its next stop.
Sample one(const KvmSystem& kvm, const std::vector<std::string>& dirs, Mode mode, const RestoreOptions& opt,
           const PrepareOptions& prep, bool diff, Verify verify = Verify::kHeader) {
  Sample x;
  std::optional<RestoreTarget> ahead;
  std::optional<LoadedSnapshot> preloaded;
  if (mode != Mode::kFresh) ahead.emplace(RestoreTarget::create(kvm, kMem, 1, false));
  if (mode == Mode::kPrepared) {
    const auto p0 = Clock::now();
    preloaded.emplace(load_snapshot(dirs));
    ahead->prepare(*preloaded, prep);
    x.prepare_ms = ms(p0, Clock::now());
  } else if (mode == Mode::kReused) {
    preloaded.emplace(load_snapshot(dirs));
    (void)ahead->restore(*preloaded, opt);
    Ring3Harness before(*ahead, true);
    (void)before.run();
  }
  const auto t0 = Clock::now();
  std::optional<RestoreTarget> fresh;
  if (mode == Mode::kFresh) fresh.emplace(RestoreTarget::create(kvm, kMem, 1, false));
  RestoreTarget& t = fresh ? *fresh : *ahead;
  const auto t1 = Clock::now();
  std::optional<LoadedSnapshot> loaded;
  if (!preloaded) loaded.emplace(load_snapshot(dirs, verify));
  const LoadedSnapshot& snap = preloaded ? *preloaded : *loaded;
  const auto t2 = Clock::now();
  const RestoreTimings rt = t.restore(snap, opt);
  Ring3Harness h(t, true);
  const auto t3 = Clock::now();
  const long f0 = minor_faults();
  // First KVM_RUN: the guest's first instruction (an `in` on the snapshot port) exits at once.
  h.run_to_exit();
  const auto t4 = Clock::now();
  x.create_ms = ms(t0, t1);
  x.load_ms = ms(t1, t2);
  x.memory_ms = rt.memory_ms;
  x.prefetch_ms = rt.prefetch_ms;
  x.flush_ms = rt.flush_ms;
  x.vm_state_ms = rt.vm_state_ms;
  x.vcpu_state_ms = rt.vcpu_state_ms;
  x.dirty_log_ms = rt.dirty_log_ms;
  x.vcpu = rt.vcpu;
  x.layers_premapped = rt.layers_premapped;
  x.first_exit_ms = ms(t3, t4);
  x.total_ms = ms(t0, t4);
  // The request: the harness answers that first exit and runs the guest to its next stop.
  const Stop stop = h.run();
  const auto t5 = Clock::now();
  x.request_ms = ms(t4, t5);
  x.faults_request = minor_faults() - f0;
  if (stop != (diff ? Stop::kExit : Stop::kSnapshot)) throw std::runtime_error("guest did not reach its next stop: " + h.error());
  if (diff && h.exit_code() != 7) throw std::runtime_error("restored guest found its memory wrong (exit code " +
                                                           std::to_string(h.exit_code()) + ")");
  return x;
}

std::int64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

/// (b2) fork+exec firerunner restoring `chain`; milliseconds from before fork to the restored
/// guest's first port write (firerunner logs its CLOCK_MONOTONIC at debug level).
double spawn_restore(const std::string& chain) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  const std::string firerunner = SNAPFAAS_FIRERUNNER;
  const std::string guest = guest_path();
  std::vector<std::string> argv{firerunner, "--kernel", guest,  "--ring3",  "--mem_size", "128",
                                "--load_dir", chain,   "--log-level", "debug"};
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  const std::int64_t t0 = now_ns();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::dup2(fds[1], STDERR_FILENO);
    ::execv(args[0], args.data());
    _exit(127);
  }
  ::close(fds[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int ws = 0;
  ::waitpid(pid, &ws, 0);
  const auto pos = out.find("monotonic_ns=");
  if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 7 || pos == std::string::npos) {
    throw std::runtime_error("firerunner --load_dir failed:\n" + out);
  }
  return static_cast<double>(std::stoll(out.substr(pos + 13)) - t0) / 1e6;
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench_restore: snapshot restore latency (native ring-3 guest, 128 MiB)"};
  std::string out;
  std::string dir;
  bool quick = false;
  app.add_option("--out", out, "JSON results file")->required();
  app.add_flag("--quick", quick, "fewer iterations");
  app.add_option("--dir", dir, "where to put the snapshots (default: a temp dir)");
  CLI11_PARSE(app, argc, argv);
  const int iters = quick ? 30 : 300;
  bool own_dir = false;
  if (dir.empty()) {
    char tmpl[] = "/tmp/snapfaas_bench_restore_XXXXXX";
    dir = ::mkdtemp(tmpl);
    own_dir = true;
  }
  try {
    const KvmSystem kvm = KvmSystem::open();
    const std::string base = dir + "/base", diff = dir + "/diff";
    SnapshotId base_id{};
    {
      RestoreTarget t = RestoreTarget::create(kvm, kMem, 1, false);
      boot_ring3(t, guest_path());
      Ring3Harness h(t, false);
      if (h.run() != Stop::kSnapshot) throw std::runtime_error("boot: no snapshot point: " + h.error());
      base_id = h.snapshot(base, std::nullopt).id;
    }
    std::uint64_t diff_pages = 0, diff_ranges = 0;
    {
      RestoreTarget t = RestoreTarget::create(kvm, kMem, 1, false);
      (void)t.restore(load_snapshot(std::vector<std::string>{base}), {});
      Ring3Harness h(t, true);
      if (h.run() != Stop::kSnapshot) throw std::runtime_error("restore: no snapshot point: " + h.error());
      for (const PageRange& r : h.snapshot(diff, base_id).ranges) {
        diff_pages += r.length / 4096;
        ++diff_ranges;
      }
    }
    const std::vector<std::string> chain{base, diff};
    const std::vector<std::string> base_only{base};
    nlohmann::json j;
    j["guest_mem_mib"] = kMem / kMiB;
    j["diff_pages"] = diff_pages;
    j["diff_ranges"] = diff_ranges;
    j["cdf_percentiles"] = "total_cdf_ms lists the total latency at p1, p2, ..., p99 (99 values, ms)";
    auto run = [&](const char* name, const std::vector<std::string>& dirs, Mode mode, RestoreOptions opt,
                   PrepareOptions prep, bool is_diff, Verify verify = Verify::kHeader) {
      Series s;
      for (int i = 0; i < iters; ++i) s.s.push_back(one(kvm, dirs, mode, opt, prep, is_diff, verify));
      j[name] = s.json();
      std::printf("%-30s total p50 %.3f ms (create %.3f, load %.3f, memory %.3f, flush %.3f, vm %.3f, vcpu %.3f "
                  "[%u ioctls, %u skipped], dirty log %.3f, first exit %.3f); request p50 %.3f ms; prepared ahead "
                  "in %.3f ms\n",
                  name, s.p50(&Sample::total_ms), s.p50(&Sample::create_ms), s.p50(&Sample::load_ms),
                  s.p50(&Sample::memory_ms), s.p50(&Sample::flush_ms), s.p50(&Sample::vm_state_ms),
                  s.p50(&Sample::vcpu_state_ms), s.s.back().vcpu.ioctls, s.s.back().vcpu.skipped,
                  s.p50(&Sample::dirty_log_ms), s.p50(&Sample::first_exit_ms), s.p50(&Sample::request_ms),
                  s.p50(&Sample::prepare_ms));
      return s;
    };
    RestoreOptions lazy;
    RestoreOptions eager;
    eager.eager_base = eager.eager_diff = true;
    PrepareOptions prep;
    PrepareOptions prep_no_entry;
    prep_no_entry.enter_vcpus = false;
    PrepareOptions prep_eager;
    prep_eager.eager_base = true;
    const Series pre = run("prespawned_lazy", chain, Mode::kPrepared, lazy, prep, true);
    const Series cold = run("prespawned_cold_lazy", chain, Mode::kCold, lazy, prep, true);
    // firerunner --verify_memory: every memory layer's payload CRC-checked at load (whole files read).
    const Series verified = run("prespawned_cold_lazy_verify_memory", chain, Mode::kCold, lazy, prep, true, Verify::kFull);
    run("prespawned_no_entry_lazy", chain, Mode::kPrepared, lazy, prep_no_entry, true);
    run("prespawned_eager", chain, Mode::kPrepared, eager, prep_eager, true);
    run("prespawned_cold_eager", chain, Mode::kCold, eager, prep, true);
    const Series fresh = run("fresh_inprocess_lazy", chain, Mode::kFresh, lazy, prep, true);
    run("fresh_inprocess_eager", chain, Mode::kFresh, eager, prep, true);
    run("reused_vm_lazy", chain, Mode::kReused, lazy, prep, true);

    // Working set: record it from one base-only restore + request, then compare.
    run("base_prespawned_lazy", base_only, Mode::kPrepared, lazy, prep, false);
    {
      RestoreTarget t = RestoreTarget::create(kvm, kMem, 1, false);
      const LoadedSnapshot snap = load_snapshot(base_only);
      (void)t.restore(snap, {});
      Ring3Harness h(t, true);
      (void)h.run();
      const auto ws = resident_ranges(t.memory());
      std::uint64_t pages = 0;
      for (const PageRange& r : ws) pages += r.length / 4096;
      j["working_set_pages"] = pages;
      save_working_set(base, snap.memory.back().header.id, ws);
    }
    RestoreOptions ws;
    ws.prefetch_working_set = true;
    run("base_prespawned_ws_prefetch", base_only, Mode::kPrepared, ws, prep, false);

    // (b2) spawn on demand: a new firerunner process per restore.
    std::vector<double> spawn;
    const int spawns = quick ? 20 : 100;
    for (int i = 0; i < spawns; ++i) spawn.push_back(spawn_restore(base + "," + diff));
    j["fresh_process"] = {{"total_p50_ms", percentile(spawn, 0.5)},
                          {"total_p90_ms", percentile(spawn, 0.9)},
                          {"total_p99_ms", percentile(spawn, 0.99)},
                          {"iterations", spawn.size()},
                          {"total_cdf_ms", cdf(spawn)}};
    std::printf("%-30s total p50 %.3f ms (fork+exec firerunner --load_dir base,diff -> first guest port write)\n",
                "fresh_process", percentile(spawn, 0.5));

    // What "fresh" costs for a Linux-shaped VM (irqchip + PIT; RAM registered before the irqchip,
    // the fast order), for comparison with the ring-3 fresh figure above.
    {
      std::vector<double> v;
      for (int i = 0; i < std::min(iters, 30); ++i) {
        const auto a = Clock::now();
        RestoreTarget t = RestoreTarget::create(kvm, kMem, 1, true);
        v.push_back(ms(a, Clock::now()));
      }
      j["fresh_vm_create_irqchip_p50_ms"] = percentile(v, 0.5);
      std::printf("fresh VM create with irqchip+PIT p50 %.3f ms\n", percentile(v, 0.5));
    }
    const double a = pre.p50(&Sample::total_ms);
    {
      // What every restore adds for the guest's fresh entropy and clock: the runner's
      // publish_restore_record (getrandom + CLOCK_REALTIME + the seqlock'ed write into the channel
      // header page), a step in series with the pre-spawned restore above.
      const std::string name = "/snapfaas-bench-reseed-" + std::to_string(::getpid());
      auto sup = snapfaas::ipc::SupervisorChannel::create(name, {});
      const auto runner = snapfaas::ipc::RunnerChannel::open(name);
      std::vector<double> us;
      for (int i = 0; i < std::max(iters, 200); ++i) {
        const auto p = window::publish_restore_record(runner);
        us.push_back(static_cast<double>(p.cost_ns) / 1e3);
      }
      j["reseed_added_us"] = percentile(us, 0.5);
      j["reseed_added_p99_us"] = percentile(us, 0.99);
      j["reseed_added_fraction_of_prespawned"] = percentile(us, 0.5) / 1e3 / a;
      std::printf("reseed_added_us p50 %.2f p99 %.2f (%.2f%% of the pre-spawned restore)\n", percentile(us, 0.5),
                  percentile(us, 0.99), 100.0 * percentile(us, 0.5) / 1e3 / a);
    }
    j["restore_prespawned_p50_ms"] = a;
    j["restore_prespawned_cold_p50_ms"] = cold.p50(&Sample::total_ms);
    j["restore_prespawned_cold_verify_memory_p50_ms"] = verified.p50(&Sample::total_ms);
    j["verify_memory_load_p50_ms"] = verified.p50(&Sample::load_ms);
    j["verify_memory_cost_p50_ms"] = verified.p50(&Sample::load_ms) - cold.p50(&Sample::load_ms);
    j["restore_fresh_p50_ms"] = percentile(spawn, 0.5);
    j["restore_fresh_inprocess_p50_ms"] = fresh.p50(&Sample::total_ms);
    j["fresh_over_prespawned"] = percentile(spawn, 0.5) / a;
    j["fresh_inprocess_over_prespawned"] = fresh.p50(&Sample::total_ms) / a;
    j["notes"] =
        "ring-3 guest, 1 vCPU, no in-kernel irqchip; total = request to the guest's first exit. "
        "restore_prespawned_p50_ms (a): VM created and prepared before the request as a pre-spawned runner that "
        "knows its candidate functions does it: snapshot files opened+validated, base layer mapped, vCPU entered "
        "once by a 2-byte warm-up guest then KVM's shadow MMU flushed, vCPU state read back; the request maps the "
        "diff, sets VM state and only the vCPU state that differs (regs and MSRs always), clears the dirty log and "
        "runs to the first exit. restore_prespawned_cold_p50_ms: VM created ahead, nothing else (load+validate, "
        "base+diff mapping and all vCPU ioctls inside the request). restore_fresh_p50_ms (b2): spawn on demand, "
        "fork+exec of firerunner --load_dir base,diff to the restored guest's first port write. "
        "restore_fresh_inprocess_p50_ms (b1): KVM_CREATE_VM + memslots (dirty logging) + vCPU + load + restore "
        "in this process. reused_vm_lazy: a VM that ran a guest restored again (flushes the shadow MMU: ms). "
        "restore_prespawned_cold_verify_memory_p50_ms: the cold restore with firerunner --verify_memory (the CRC of "
        "every memory layer's payload checked at load; verify_memory_cost_p50_ms is its extra load time, page cache "
        "warm).";
    std::ofstream(out) << j.dump(2) << "\n";
    std::printf("restore_prespawned_p50_ms %.4f  restore_fresh_p50_ms (process) %.4f  ratio %.1fx;  in-process fresh "
                "%.4f ms, ratio %.1fx\n",
                a, percentile(spawn, 0.5), percentile(spawn, 0.5) / a, fresh.p50(&Sample::total_ms),
                fresh.p50(&Sample::total_ms) / a);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_restore: %s\n", e.what());
    if (own_dir) fs::remove_all(dir);
    return 1;
  }
  if (own_dir) fs::remove_all(dir);
  return 0;
}
