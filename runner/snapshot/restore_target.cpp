// RestoreTarget: VM pre-creation and the restore sequence (validate, memory, VM state, vCPUs).
#include "runner/snapshot/restore_target.h"

#include <chrono>

#include "common/error.h"
#include "runner/kvm/cpuid.h"
#include "runner/memory/guest_layout.h"
#include "runner/snapshot/vcpu_state.h"
#include "runner/snapshot/vm_state.h"

namespace snapfaas::runner::snapshot {

namespace {
double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

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

RestoreTimings RestoreTarget::restore(const LoadedSnapshot& snap, const RestoreOptions& options) {
  std::vector<KvmVcpu*> vcpus;
  for (KvmVcpu& v : vcpus_) vcpus.push_back(&v);
  return restore_into(vm_, memory_, vcpus, snap, options, true);
}

RestoreTimings restore_into(KvmVm& vm, const GuestMemory& memory, std::span<KvmVcpu* const> vcpus,
                            const LoadedSnapshot& snap, const RestoreOptions& options, bool dirty_logging) {
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

  RestoreTimings t;
  auto t0 = std::chrono::steady_clock::now();
  t.memory = restore_memory(memory, layers);
  t.memory_ms = ms_since(t0);
  if (options.prefetch_working_set && !snap.working_set.empty()) {
    t0 = std::chrono::steady_clock::now();
    t.prefetched_pages = prefetch_ranges(memory, snap.working_set);
    t.prefetch_ms = ms_since(t0);
  }
  t0 = std::chrono::steady_clock::now();
  apply_vm_state(vm, s.vm);
  t.vm_state_ms = ms_since(t0);
  t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < vcpus.size(); ++i) apply_vcpu_state(*vcpus[i], s.vcpus[i]);
  t.vcpu_state_ms = ms_since(t0);
  if (dirty_logging) {
    std::uint32_t slot = 0;
    for (const GuestRegion& r : memory.regions()) (void)vm.dirty_log(slot++, r.mapping.size());
  }
  return t;
}

}  // namespace snapfaas::runner::snapshot
