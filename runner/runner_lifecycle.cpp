// One firerunner's life: create → lock down → load → run (see runner_lifecycle.h).
#include "runner/runner_lifecycle.h"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <utility>

#include "common/error.h"
#include "common/log.h"
#include "ipc/runner_times.h"
#include "runner/snapshot/vcpu_state.h"
#include "runner/snapshot/working_set.h"
#include "runner/window/restore_record_writer.h"

namespace snapfaas::runner {
namespace {

using Clock = std::chrono::steady_clock;

[[nodiscard]] double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace

RunnerOptions RunnerOptions::from_command(const common::RunnerCommand& c) {
  RunnerOptions o;
  o.vmm.kernel = c.kernel;
  o.vmm.rootfs = c.rootfs;
  o.vmm.rootfs_rw = c.rootfs_rw;
  o.vmm.direct_io = c.direct_io;
  o.vmm.appfs = c.appfs;
  o.vmm.mem_mib = c.mem_mib;
  o.vmm.vcpu_count = c.vcpu_count;
  o.vmm.kernel_args = c.kernel_args;
  o.vmm.console = c.console;
  o.vmm.ring3 = c.ring3;
  o.vmm.timeout_s = c.timeout_s;
  o.vmm.network = c.network;
  o.vmm.guest_address = c.guest_address;
  o.vmm.dirty_log = !c.dump_dir.empty();  // a diff needs KVM's dirty log from the start
  o.channel = c.channel;
  o.allow_writable_header = c.allow_writable_header;
  o.seccomp = {!c.no_seccomp, c.seccomp_log ? SeccompAction::kLog : SeccompAction::kKill};
  o.snapshot_dirs = c.snapshot_layers();
  o.restore.eager_base = c.copy_base;
  o.restore.eager_diff = c.copy_diff;
  o.verify_memory = c.verify_memory;
  o.dump_dir = c.dump_dir;
  o.dump_ws = c.dump_ws;
  o.load_ws = c.load_ws;
  o.restore.prefetch_working_set = !c.load_ws.empty();
  o.functions_file = c.functions;
  if (!c.diff_dirs.empty() && c.load_dirs.empty()) throw common::Error("--diff_dirs needs --load_dir");
  if ((!c.dump_ws.empty() || !c.load_ws.empty()) && (c.load_dirs.empty() || !c.functions.empty())) {
    throw common::Error("--dump_ws and --load_ws need --load_dir (a restored VM)");
  }
  if (!c.dump_ws.empty() && (!c.dump_dir.empty() || c.channel.empty())) {
    throw common::Error("--dump_ws needs --channel (it is asked for on the control ring) and excludes --dump_dir");
  }
  if (!c.functions.empty()) {
    if (c.channel.empty() || !o.snapshot_dirs.empty() || !c.dump_dir.empty()) {
      throw common::Error("--functions needs --channel and excludes --load_dir/--dump_dir");
    }
    o.mode = RunnerMode::kPrespawned;
  } else {
    o.mode = o.snapshot_dirs.empty() ? RunnerMode::kBoot : RunnerMode::kRestore;
  }
  return o;
}

RunnerLifecycle::RunnerLifecycle(RunnerOptions options, RunnerHooks hooks)
    : options_(std::move(options)), hooks_(std::move(hooks)), created_(Clock::now()) {
  const bool prespawned = options_.mode == RunnerMode::kPrespawned;
  // Every file this runner will use is opened now; after lock-down it can open nothing. The
  // supervisor's table is trusted input (it wrote it); only names and paths are read here.
  if (prespawned) functions_.emplace(ipc::read_function_table(options_.functions_file), options_.vmm.direct_io, verify());
  if (options_.mode == RunnerMode::kRestore) {
    restore_files_.emplace(snapshot::open_snapshot_files(options_.snapshot_dirs, options_.load_ws));
  }
  // A VM that can only be restored never runs the --kernel from its entry: its segments are not
  // read (the vmlinux is ~17 MB, most of VM creation in the emulated host before this).
  const auto boots = [](const auto& f) { return f.snapshot_dirs.empty(); };
  options_.vmm.place_kernel =
      options_.mode == RunnerMode::kBoot ||
      (prespawned && std::any_of(functions_->table().begin(), functions_->table().end(), boots));
  vmm_ = std::make_unique<Vmm>(options_.vmm);
  // Reading vCPU state (restores read it back, snapshots save it) needs the host's MSR list,
  // which comes from /dev/kvm: learn it while the runner may still open files.
  if (vmm_->vcpu_count() > 0) (void)snapshot::saveable_msrs(vmm_->vcpu(0).kvm());
  // Programs compiled now (libseccomp), installed later by the threads they are for.
  vmm_filter_ = CompiledSeccomp::compile(ThreadRole::kVmm, options_.seccomp);
  vcpu_filter_ = CompiledSeccomp::compile(ThreadRole::kVcpu, options_.seccomp);
  net_rx_filter_ = CompiledSeccomp::compile(ThreadRole::kNetRx, options_.seccomp);
  if (!options_.channel.empty()) {
    window::WindowServiceOptions window_options;
    window_options.serve_loads = prespawned;
    window_options.allow_writable_header = options_.allow_writable_header;
    window_options.control_thread_init = [filter = CompiledSeccomp::compile(ThreadRole::kControl, options_.seccomp)] {
      filter.install();
    };
    window_ = std::make_unique<window::WindowService>(options_.channel, *vmm_, created_, std::move(window_options));
  }
  // The snapshot saver is the one thread that writes files: it starts now, under its own program
  // only (openat/renameat/unlinkat on the output directory's descriptor), and waits.
  std::optional<snapshot::SnapshotDir> out_dir;
  std::function<void()> saver_init;
  if (!options_.dump_dir.empty()) {
    out_dir = snapshot::SnapshotDir::open(options_.dump_dir);
    saver_init = [filter = CompiledSeccomp::compile(ThreadRole::kSaver, options_.seccomp, {out_dir->fd.get()})] {
      filter.install();
    };
  }
  trigger_.emplace(*vmm_, std::move(out_dir), std::move(saver_init));
  // --dump_ws: a second writer, under the same saver program on its own output directory (and
  // pread on /proc/self/pagemap, opened now).
  if (!options_.dump_ws.empty()) {
    ws_dumper_ = std::make_unique<WorkingSetDumper>(options_.dump_ws);
    ws_dumper_->start([filter = CompiledSeccomp::compile(ThreadRole::kSaver, options_.seccomp, {ws_dumper_->dir_fd()})] {
      filter.install();
    });
  }
}

RunnerLifecycle::~RunnerLifecycle() {
  ws_dumper_.reset();  // it replies through the window and reads the Vmm's RAM
  trigger_.reset();  // its saver thread first (it uses the Vmm)
  window_.reset();   // its control thread before the Vmm
}

void RunnerLifecycle::expect(Phase phase, const char* step) const {
  if (phase_ != phase) throw std::logic_error(std::string("RunnerLifecycle::") + step + " called out of order");
}

void RunnerLifecycle::lock_down() {
  expect(Phase::kCreated, "lock_down");
  // glibc's first pthread_create installs signal handlers (rt_sigaction, which no role allows).
  prime_thread_creation();
  vmm_filter_.install();
  // Every thread from now on starts under the VMM program and adds its own first thing. The vCPU
  // threads start parked: they enter KVM_RUN only when run() releases them.
  // Each thread's init owns a copy of its program: a thread scheduled late may still be installing
  // it while a failed load unwinds this object (the Vmm, destroyed last, joins the threads).
  vmm_->start_vcpus_parked([filter = vcpu_filter_] { filter.install(); });
  vmm_->start_device_threads([filter = net_rx_filter_, vmm = vmm_.get()] {
    try {
      filter.install();
    } catch (const std::exception& e) {
      vmm->request_stop(1, std::string("virtio-net receive thread: ") + e.what());
      throw;
    }
  });
  // Pre-spawned: the VMM thread answers control commands itself until the load; the control
  // thread takes over after it. Otherwise it answers them from now until the guest's first WAIT.
  if (window_ && options_.mode != RunnerMode::kPrespawned) window_->start_control_thread();
  phase_ = Phase::kLockedDown;
  if (hooks_.locked_down) hooks_.locked_down();
}

bool RunnerLifecycle::load() {
  expect(Phase::kLockedDown, "load");
  switch (options_.mode) {
    case RunnerMode::kBoot:
      break;  // the --kernel was placed in guest memory at create
    case RunnerMode::kRestore: {
      snapshot::LoadedSnapshot snap = snapshot::load_snapshot(std::move(*restore_files_), verify());
      restore_files_.reset();
      snapshot::RestoreOptions restore = options_.restore;
      if (restore.prefetch_working_set) restore.prefetch_working_set = snapshot::working_set_usable(snap, "--load_ws " + options_.load_ws);
      restored_ = snapshot::restore_vmm(*vmm_, std::move(snap), restore, options_.vmm.dirty_log);
      if (ws_dumper_ && window_) {
        ws_dumper_->arm(vmm_->memory(), *restored_,
                        [ports = &window_->ports()](const ipc::ControlCommand& c, std::int32_t status, std::uint64_t value) {
                          ports->reply_control(c, status, value);
                        });
        window_->ports().set_dump_working_set_hook(
            [dumper = ws_dumper_.get()](const ipc::ControlCommand& c) { dumper->request(c); });
      }
      // A restored guest is a clone: fresh entropy and the host clock before its vCPUs run.
      if (window_) (void)window::publish_restore_record(window_->channel());
      break;
    }
    case RunnerMode::kPrespawned:
      if (!load_prespawned()) return false;
      break;
  }
  // Ring-3 guests ask for snapshots on their own port, the agent through the window's
  // SNAPSHOT_POINT doorbell; without --dump_dir the trigger only answers.
  trigger_->arm(restored_, restored_.has_value(), vmm_->ring3());
  // KVM's counts are published from here to the guest's first response: the vCPUs have not run
  // since the load (a boot at spawn, a restore, a pre-spawned VM's load command), so the baseline
  // is what they counted before it.
  if (window_) window_->ports().arm_load_counters();
  if (window_) window_->ports().set_snapshot_hook([this](std::uint32_t code) { trigger_->request(code); });
  if (window_) window_->start_control_thread();  // pre-spawned: now; otherwise running already
  phase_ = Phase::kLoaded;
  return true;
}

bool RunnerLifecycle::load_prespawned() {
  functions_->preload(*vmm_);
  spdlog::info("firerunner: pre-spawned, {} functions, VM ready in {:.3f} ms{}, waiting for a load command",
               functions_->table().size(), ms_between(created_, Clock::now()),
               functions_->prepared() ? " (restore prepared)" : "");
  for (;;) {
    const std::optional<ipc::ControlCommand> command = window_->wait_load_command();
    if (!command) {
      if (window_->ports().stopped()) throw common::Error("the VM stopped before any load (a thread failed to start: see above)");
      spdlog::info("firerunner: shut down before any load");
      return false;
    }
    ipc::reset_runner_times(window_->channel().shm().data());  // vCPUs parked: nothing marks it yet
    const auto load_start = Clock::now();
    const LoadOutcome outcome = functions_->load(*vmm_, *command, hooks_.loading);
    if (outcome.run && outcome.base) {
      // A restored guest is a clone: fresh entropy and the host clock before its vCPUs run.
      const window::PublishedRestore published = window::publish_restore_record(window_->channel());
      spdlog::info("firerunner: restore record generation {} published in {} ns", published.generation,
                   published.cost_ns);
    }
    // The reply's value: ns this runner spent on the load (ipc/channel_layout.h, ControlReply).
    window_->ports().reply_control(*command, static_cast<std::int32_t>(outcome.result),
                                   static_cast<std::uint64_t>(ms_between(load_start, Clock::now()) * 1e6));
    if (outcome.failed) throw common::Error("the VM cannot be used after a failed restore");
    if (outcome.run) {
      restored_ = outcome.base;
      return true;
    }
  }
}

int RunnerLifecycle::run() {
  expect(Phase::kLoaded, "run");
  phase_ = Phase::kRunning;
  // Start-up's scratch (the command line, snapshot state read and validated, the function table)
  // is freed by now but still resident: ~50 KiB of a runner's ~150 KiB heap (bench density,
  // runner_breakdown_at_max_n.heap). Give those pages back once, before the guest runs (a few
  // microseconds: brk/madvise, both in the VMM program).
  const auto trim_start = Clock::now();
  ::malloc_trim(0);
  spdlog::debug("firerunner: malloc_trim in {:.3f} ms", ms_between(trim_start, Clock::now()));
  return vmm_->run();
}

int RunnerLifecycle::run_all() {
  lock_down();
  if (!load()) return 0;
  return run();
}

int run_firerunner(const common::RunnerCommand& command, RunnerHooks hooks) {
  try {
    common::init_logging("firerunner", command.log_level);
    RunnerLifecycle runner(RunnerOptions::from_command(command), std::move(hooks));
    const int code = runner.run_all();
    spdlog::debug("guest exited with status {}", code);
    return code;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "firerunner: %s\n", e.what());
    return 1;
  }
}

}  // namespace snapfaas::runner
