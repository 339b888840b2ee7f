// bench_restore: host-side restore latency of a native ring-3 guest (128 MiB, base + diff), from
// "restore requested" to the guest's first instruction (its first exit), broken down into snapshot
// load/validation, memory mapping, VM state, vCPU state and the first KVM_RUN; for (a) a VM created
// ahead of time with its memslots registered and (b) a VM created inside the request; lazy vs eager
// memory; page faults; and the first request with and without the working-set prefetch.
// Usage: bench_restore --out FILE.json [--quick] [--dir DIR]
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runner/snapshot/restore_target.h"
#include "runner/snapshot/snapshot.h"
#include "runner/snapshot/working_set.h"
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

struct Sample {
  double create_ms = 0, load_ms = 0, memory_ms = 0, prefetch_ms = 0, vm_state_ms = 0, vcpu_state_ms = 0,
         first_exit_ms = 0, total_ms = 0, preloaded_ms = 0, request_ms = 0;
  long faults_request = 0;
};

struct Series {
  std::vector<Sample> s;
  [[nodiscard]] double p(double Sample::*field, double q) const {
    std::vector<double> v;
    for (const Sample& x : s) v.push_back(x.*field);
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1))];
  }
  [[nodiscard]] nlohmann::json json() const {
    nlohmann::json j;
    const std::pair<const char*, double Sample::*> fields[] = {
        {"create_vm", &Sample::create_ms},     {"load_validate", &Sample::load_ms},
        {"memory_map", &Sample::memory_ms},    {"prefetch", &Sample::prefetch_ms},
        {"vm_state", &Sample::vm_state_ms},    {"vcpu_state", &Sample::vcpu_state_ms},
        {"first_exit", &Sample::first_exit_ms}, {"total", &Sample::total_ms},
        {"total_preloaded", &Sample::preloaded_ms},
        {"first_request", &Sample::request_ms}};
    for (const auto& [name, f] : fields) j[std::string(name) + "_p50_ms"] = p(f, 0.5);
    j["total_p90_ms"] = p(&Sample::total_ms, 0.9);
    std::vector<long> faults;
    for (const Sample& x : s) faults.push_back(x.faults_request);
    std::sort(faults.begin(), faults.end());
    j["minor_faults_first_request_p50"] = faults.empty() ? 0 : faults[faults.size() / 2];
    j["iterations"] = s.size();
    return j;
  }
};

/// One restore: (optionally) create the VM, load + validate, restore, KVM_RUN to the first exit,
/// then run the guest's "request" (check A, write B) to its next snapshot point.
Sample one(const KvmSystem& kvm, const std::vector<std::string>& dirs, bool prespawned, const RestoreOptions& opt,
           bool diff, bool warm = false) {
  Sample x;
  std::optional<RestoreTarget> pre;
  if (prespawned) pre.emplace(RestoreTarget::create(kvm, kMem, 1, false));
  if (warm) {
    // A pool VM whose vCPU has already entered the guest once (booted to its first exit): the
    // first-entry costs of a new vCPU are paid before the request.
    boot_ring3(*pre, guest_path());
    Ring3Harness boot(*pre, false);
    boot.run_to_exit();
  }
  const auto t0 = Clock::now();
  std::optional<RestoreTarget> fresh;
  if (!prespawned) fresh.emplace(RestoreTarget::create(kvm, kMem, 1, false));
  RestoreTarget& t = prespawned ? *pre : *fresh;
  const auto t1 = Clock::now();
  const LoadedSnapshot snap = load_snapshot(dirs);
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
  x.vm_state_ms = rt.vm_state_ms;
  x.vcpu_state_ms = rt.vcpu_state_ms;
  x.first_exit_ms = ms(t3, t4);
  x.total_ms = ms(t0, t4);
  x.preloaded_ms = x.total_ms - x.load_ms;  // the snapshot opened and validated before the request
  // The request: the harness answers that first exit and runs the guest to its next stop.
  const Stop stop = h.run();
  const auto t5 = Clock::now();
  x.request_ms = ms(t4, t5);
  x.faults_request = minor_faults() - f0;
  if (stop != (diff ? Stop::kExit : Stop::kSnapshot)) throw std::runtime_error("guest did not reach its next stop: " + h.error());
  return x;
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
    std::uint64_t diff_pages = 0;
    {
      RestoreTarget t = RestoreTarget::create(kvm, kMem, 1, false);
      (void)t.restore(load_snapshot(std::vector<std::string>{base}), {});
      Ring3Harness h(t, true);
      if (h.run() != Stop::kSnapshot) throw std::runtime_error("restore: no snapshot point: " + h.error());
      for (const PageRange& r : h.snapshot(diff, base_id).ranges) diff_pages += r.length / 4096;
    }
    const std::vector<std::string> chain{base, diff};
    const std::vector<std::string> base_only{base};
    nlohmann::json j;
    j["guest_mem_mib"] = kMem / kMiB;
    j["diff_pages"] = diff_pages;
    auto run = [&](const char* name, const std::vector<std::string>& dirs, bool pre, RestoreOptions opt, bool is_diff,
                   bool warm = false) {
      Series s;
      for (int i = 0; i < iters; ++i) s.s.push_back(one(kvm, dirs, pre, opt, is_diff, warm));
      j[name] = s.json();
      std::printf("%-28s total p50 %.3f ms (memory %.3f, vm %.3f, vcpu %.3f, first exit %.3f, load %.3f, create %.3f); "
                  "request p50 %.3f ms, %ld faults\n",
                  name, s.p(&Sample::total_ms, 0.5), s.p(&Sample::memory_ms, 0.5), s.p(&Sample::vm_state_ms, 0.5),
                  s.p(&Sample::vcpu_state_ms, 0.5), s.p(&Sample::first_exit_ms, 0.5), s.p(&Sample::load_ms, 0.5),
                  s.p(&Sample::create_ms, 0.5), s.p(&Sample::request_ms, 0.5),
                  static_cast<long>(j[name]["minor_faults_first_request_p50"]));
      return s;
    };
    RestoreOptions lazy;
    RestoreOptions eager;
    eager.eager_base = eager.eager_diff = true;
    const Series pre = run("prespawned_lazy", chain, true, lazy, true);
    const Series fresh = run("fresh_lazy", chain, false, lazy, true);
    const Series warm = run("prespawned_warm_lazy", chain, true, lazy, true, true);
    run("prespawned_eager", chain, true, eager, true);
    run("fresh_eager", chain, false, eager, true);

    // Working set: record it from one base-only restore + request, then compare.
    run("base_prespawned_lazy", base_only, true, lazy, false);
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
    run("base_prespawned_ws_prefetch", base_only, true, ws, false);

    // What "fresh" costs for a Linux-shaped VM (irqchip + PIT; RAM registered before the irqchip,
    // the fast order), for comparison with the ring-3 fresh figure above.
    {
      std::vector<double> v;
      for (int i = 0; i < iters; ++i) {
        const auto a = Clock::now();
        RestoreTarget t = RestoreTarget::create(kvm, kMem, 1, true);
        v.push_back(ms(a, Clock::now()));
      }
      std::sort(v.begin(), v.end());
      j["fresh_vm_create_irqchip_p50_ms"] = v[v.size() / 2];
      std::printf("fresh VM create with irqchip+PIT p50 %.3f ms\n", v[v.size() / 2]);
    }
    j["restore_prespawned_p50_ms"] = pre.p(&Sample::total_ms, 0.5);
    j["restore_fresh_p50_ms"] = fresh.p(&Sample::total_ms, 0.5);
    j["restore_prespawned_preloaded_p50_ms"] = pre.p(&Sample::preloaded_ms, 0.5);
    j["restore_prespawned_warm_p50_ms"] = warm.p(&Sample::total_ms, 0.5);
    j["restore_prespawned_warm_preloaded_p50_ms"] = warm.p(&Sample::preloaded_ms, 0.5);
    j["fresh_over_prespawned"] = fresh.p(&Sample::total_ms, 0.5) / pre.p(&Sample::total_ms, 0.5);
    j["notes"] = "ring-3 guest without an in-kernel irqchip; total = request to the guest's first exit "
                 "(load+validate, memory map, VM state, vCPU state, first KVM_RUN); fresh includes KVM_CREATE_VM, "
                 "memslot registration (dirty logging) and vCPU creation";
    std::ofstream(out) << j.dump(2) << "\n";
    std::printf("restore_prespawned_p50_ms %.4f  restore_fresh_p50_ms %.4f  ratio %.1fx\n",
                static_cast<double>(j["restore_prespawned_p50_ms"]), static_cast<double>(j["restore_fresh_p50_ms"]),
                static_cast<double>(j["fresh_over_prespawned"]));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_restore: %s\n", e.what());
    if (own_dir) fs::remove_all(dir);
    return 1;
  }
  if (own_dir) fs::remove_all(dir);
  return 0;
}
