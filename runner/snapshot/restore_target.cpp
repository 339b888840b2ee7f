// RestoreTarget: VM pre-creation, the pre-spawn preparation (vCPU warm-up entry, base mapping,
// vCPU state read back) and the restore sequence (validate, memory, VM state, vCPUs).
#include "runner/snapshot/restore_target.h"

#include <cerrno>
#include <chrono>
#include <cstring>

#include "common/error.h"
#include "runner/kvm/cpuid.h"
#include "runner/loader/ring3_loader.h"
#include "runner/memory/guest_layout.h"
#include "runner/snapshot/vm_state.h"

namespace snapfaas::runner::snapshot {

namespace {
double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// The warm-up guest: identity page tables mapping the first 2 MiB as one user page, and the code
// `out 0x80, al` (its exit is where KVM_RUN returns).
constexpr std::uint64_t kWarmPml4 = 0x1000, kWarmPdpt = 0x2000, kWarmPd = 0x3000, kWarmCode = 0x4000;
constexpr std::uint64_t kWarmSpan = 2ull << 20;
constexpr std::uint64_t kPtePresentWritableUser = 7, kPteHuge = 0x80;
constexpr std::uint8_t kWarmOut = 0x80;
constexpr std::uint64_t kRflagsIopl3 = 2 | (3u << 12);

// Enters each vCPU once at the warm-up code and completes the exit (RIP past the `out`, no I/O
// left pending for a later KVM_RUN). Writes the warm-up bytes into RAM: the caller maps memory over
// them before any restored guest runs.
void enter_once(const KvmVm& vm, const GuestMemory& memory, std::span<KvmVcpu* const> vcpus) {
  bool ok = memory.slice(0, kWarmSpan).has_value();
  ok = ok && memory.write_obj<std::uint64_t>(kWarmPml4, kWarmPdpt | kPtePresentWritableUser);
  ok = ok && memory.write_obj<std::uint64_t>(kWarmPdpt, kWarmPd | kPtePresentWritableUser);
  ok = ok && memory.write_obj<std::uint64_t>(kWarmPd, 0 | kPtePresentWritableUser | kPteHuge);
  const std::uint8_t code[] = {0xe6, kWarmOut, 0xeb, 0xfc};  // out 0x80, al; jmp back
  ok = ok && memory.write(kWarmCode, code);
  if (!ok) throw common::Error("prepare restore: the vCPU warm-up needs RAM at guest-physical 0..2 MiB");
  for (KvmVcpu* v : vcpus) {
    // Without this, an application processor of a VM with an in-kernel LAPIC waits for INIT/SIPI.
    if (vm.has_irqchip()) v->set_mp_state(kvm_mp_state{KVM_MP_STATE_RUNNABLE});
    kvm_sregs sregs = ring3_sregs(v->sregs());
    sregs.cr3 = kWarmPml4;
    v->set_sregs(sregs);
    kvm_regs regs{};
    regs.rip = kWarmCode;
    regs.rflags = kRflagsIopl3;
    v->set_regs(regs);
    int r = 0;
    do {
      r = v->run();
    } while (r == -EINTR || r == -EAGAIN);
    if (r < 0) throw common::sys_error("prepare restore: KVM_RUN (vCPU warm-up entry)", -r);
    const kvm_run& run = v->run_struct();
    if (run.exit_reason != KVM_EXIT_IO || run.io.port != kWarmOut) {
      throw common::Error("prepare restore: vCPU " + std::to_string(v->id()) + " warm-up entry stopped with exit reason " +
                          std::to_string(run.exit_reason) + ", not its port write");
    }
    complete_pending_io(*v);
  }
}
// The restore sequence; `flush`: re-register the RAM slots after mapping memory (a VM that ran).
RestoreTimings restore_impl(KvmVm& vm, const GuestMemory& memory, std::span<KvmVcpu* const> vcpus,
                            const LoadedSnapshot& snap, const RestoreOptions& options, bool dirty_logging,
                            PreparedRestore* prepared, bool flush);
}  // namespace

void flush_shadow_mmu(KvmVm& vm, const GuestMemory& memory, bool dirty_logging) {
  const std::uint32_t flags = dirty_logging ? KVM_MEM_LOG_DIRTY_PAGES : 0;
  std::uint32_t slot = 0;
  for (const GuestRegion& r : memory.regions()) {
    vm.set_user_memory_region(slot, r.gpa, 0, r.mapping.data(), 0);
    vm.set_user_memory_region(slot, r.gpa, r.mapping.size(), r.mapping.data(), flags);
    ++slot;
  }
}

PreparedRestore prepare_restore(KvmVm& vm, const GuestMemory& memory, std::span<KvmVcpu* const> vcpus,
                                const LoadedSnapshot& candidate, const PrepareOptions& options, bool dirty_logging) {
  if (candidate.memory.empty()) throw common::Error("prepare restore: the snapshot has no memory layers");
  if (candidate.state.vcpus.size() != vcpus.size()) {
    throw common::Error("prepare restore: vCPU count mismatch (snapshot has " +
                        std::to_string(candidate.state.vcpus.size()) + ", the VM has " + std::to_string(vcpus.size()) +
                        ")");
  }
  PreparedRestore p;
  if (options.enter_vcpus) {
    enter_once(vm, memory, vcpus);
    flush_shadow_mmu(vm, memory, dirty_logging);
  }
  if (options.map_base) {
    const SnapshotFile& base = candidate.memory.front();
    const MemoryLayer layer{&base, options.eager_base};
    (void)restore_memory(memory, std::span(&layer, 1));
    p.base_mapped = true;
    p.base_eager = options.eager_base;
    p.base_id = base.header.id;
  }
  for (std::size_t i = 0; i < vcpus.size(); ++i) apply_vcpu_state(*vcpus[i], candidate.state.vcpus[i]);
  for (KvmVcpu* v : vcpus) p.vcpus.push_back(capture_vcpu_state(*v, vm.has_irqchip()));
  p.valid = true;
  return p;
}

std::vector<KvmVcpu*> RestoreTarget::vcpu_ptrs() {
  std::vector<KvmVcpu*> out;
  for (KvmVcpu& v : vcpus_) out.push_back(&v);
  return out;
}

RestoreTarget RestoreTarget::create(const KvmSystem& kvm, std::uint64_t mem_bytes, std::uint32_t vcpu_count,
                                    bool irqchip) {
  RestoreTarget t(KvmVm::create(kvm), create_guest_ram(mem_bytes));
  std::uint32_t slot = 0;
  for (const GuestRegion& r : t.memory_.regions()) {
    t.vm_.set_user_memory_region(slot++, r.gpa, r.mapping.size(), r.mapping.data(), KVM_MEM_LOG_DIRTY_PAGES);
  }
  if (irqchip) {
    t.vm_.set_tss_addr(layout::kTssAddr);
    t.vm_.set_identity_map_addr(layout::kIdentityMapAddr);
    t.vm_.create_irqchip();
    t.vm_.create_pit2();
  }
  const auto cpuid = kvm.supported_cpuid();
  for (std::uint32_t i = 0; i < vcpu_count; ++i) {
    KvmVcpu vcpu = KvmVcpu::create(kvm, t.vm_, i);
    vcpu.set_cpuid(normalize_cpuid(cpuid, i, vcpu_count));
    t.vcpus_.push_back(std::move(vcpu));
  }
  return t;
}

void RestoreTarget::clear_dirty_log() {
  std::uint32_t slot = 0;
  for (const GuestRegion& r : memory_.regions()) (void)vm_.dirty_log(slot++, r.mapping.size());
}

void RestoreTarget::prepare(const LoadedSnapshot& snap, const PrepareOptions& options) {
  prepared_.valid = false;
  const std::vector<KvmVcpu*> vcpus = vcpu_ptrs();
  if (entered_ && !options.enter_vcpus) flush_shadow_mmu(vm_, memory_, true);
  PreparedRestore p = prepare_restore(vm_, memory_, vcpus, snap, options, true);
  entered_ = false;
  prepared_ = std::move(p);
}

RestoreTimings RestoreTarget::restore(const LoadedSnapshot& snap, const RestoreOptions& options) {
  const std::vector<KvmVcpu*> vcpus = vcpu_ptrs();
  const bool flush = entered_ && !prepared_.valid;
  RestoreTimings t = restore_impl(vm_, memory_, vcpus, snap, options, true, &prepared_, flush);
  entered_ = false;
  return t;
}

RestoreTimings restore_into(KvmVm& vm, const GuestMemory& memory, std::span<KvmVcpu* const> vcpus,
                            const LoadedSnapshot& snap, const RestoreOptions& options, bool dirty_logging,
                            PreparedRestore* prepared) {
  return restore_impl(vm, memory, vcpus, snap, options, dirty_logging, prepared, false);
}

namespace {
RestoreTimings restore_impl(KvmVm& vm, const GuestMemory& memory, std::span<KvmVcpu* const> vcpus,
                            const LoadedSnapshot& snap, const RestoreOptions& options, bool dirty_logging,
                            PreparedRestore* prepared, bool flush) {
  const MicrovmState& s = snap.state;
  if (s.vcpu_count != vcpus.size()) {
    throw common::Error("snapshot restore: vCPU count mismatch (snapshot has " + std::to_string(s.vcpu_count) +
                        ", the VM has " + std::to_string(vcpus.size()) + ")");
  }
  if (s.regions.size() != memory.regions().size()) {
    throw common::Error("snapshot restore: RAM layout mismatch (snapshot has " + std::to_string(s.regions.size()) +
                        " regions, the VM " + std::to_string(memory.regions().size()) + ")");
  }
  for (std::size_t i = 0; i < s.regions.size(); ++i) {
    const GuestRegion& r = memory.regions()[i];
    if (s.regions[i].gpa != r.gpa || s.regions[i].size != r.mapping.size()) {
      throw common::Error("snapshot restore: RAM region " + std::to_string(i) + " differs from the VM's");
    }
  }
  if (s.vm.irqchip != vm.has_irqchip()) {
    throw common::Error(std::string("snapshot restore: snapshot was taken ") + (s.vm.irqchip ? "with" : "without") +
                        " an in-kernel irqchip, the VM differs");
  }
  std::vector<MemoryLayer> layers;
  for (std::size_t i = 0; i < snap.memory.size(); ++i) {
    layers.push_back({&snap.memory[i], i == 0 ? options.eager_base : options.eager_diff});
  }
  validate_layers(memory, layers);
  // What the preparation left in place; it is used up by this restore whatever happens below.
  const bool use_prepared = prepared != nullptr && prepared->valid && prepared->vcpus.size() == vcpus.size();
  PreparedRestore ready;
  if (prepared != nullptr) {
    if (use_prepared) ready = std::move(*prepared);
    *prepared = PreparedRestore{};
  }
  const bool base_in_place = use_prepared && ready.base_mapped && ready.base_id == snap.memory.front().header.id &&
                             ready.base_eager == options.eager_base;

  RestoreTimings t;
  // A vCPU that ran may hold an unfinished I/O exit that the next KVM_RUN would complete on top
  // of the restored registers: finish it first.
  if (flush) {
    for (KvmVcpu* v : vcpus) complete_pending_io(*v);
  }
  auto t0 = std::chrono::steady_clock::now();
  t.layers_premapped = base_in_place ? 1 : 0;
  t.memory = restore_memory(memory, layers, t.layers_premapped);
  t.memory_ms = ms_since(t0);
  if (flush) {
    t0 = std::chrono::steady_clock::now();
    flush_shadow_mmu(vm, memory, dirty_logging);
    t.flush_ms = ms_since(t0);
  }
  if (options.prefetch_working_set && !snap.working_set.empty()) {
    t0 = std::chrono::steady_clock::now();
    t.prefetched_pages = prefetch_ranges(memory, snap.working_set);
    t.prefetch_ms = ms_since(t0);
  }
  t0 = std::chrono::steady_clock::now();
  apply_vm_state(vm, s.vm);
  t.vm_state_ms = ms_since(t0);
  t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < vcpus.size(); ++i) {
    apply_vcpu_state(*vcpus[i], s.vcpus[i], use_prepared ? &ready.vcpus[i] : nullptr, &t.vcpu);
  }
  t.vcpu_state_ms = ms_since(t0);
  if (dirty_logging) {
    t0 = std::chrono::steady_clock::now();
    std::uint32_t slot = 0;
    for (const GuestRegion& r : memory.regions()) (void)vm.dirty_log(slot++, r.mapping.size());
    t.dirty_log_ms = ms_since(t0);
  }
  return t;
}

}  // namespace

}  // namespace snapfaas::runner::snapshot
