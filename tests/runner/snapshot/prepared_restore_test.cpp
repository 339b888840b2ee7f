// Pre-spawn preparation of a restore (RestoreTarget::prepare / prepare_restore): a prepared VM
// restores correctly while reusing its base mapping and skipping vCPU state already in place; a
// preparation for another base, or one whose RAM/vCPUs were handed out since, falls back to the full
// restore; a VM that ran is flushed so no shadow page table of the old guest survives; a candidate
// with another vCPU count is refused; and apply_vcpu_state sets only what differs, MSRs in one ioctl.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstring>

#include "common/error.h"
#include "runner/loader/ring3_loader.h"
#include "runner/snapshot/snapshot_abi.h"
#include "runner/snapshot/vcpu_state.h"
#include "tests/runner/snapshot/restore_test_support.h"

using namespace snapfaas::runner;
using namespace snapfaas::runner::snapshot;
using namespace snapfaas::runner::snapshot::test;

namespace {
/// base (boot → first snapshot point) and diff (restore base → second snapshot point) of the
/// snapshot guest under `d`.
std::vector<std::string> make_chain(const TempDir& d, const char* base_name = "base", const char* diff_name = "diff") {
  const SnapshotId base_id = make_base(d.sub(base_name));
  (void)make_diff(d.sub(base_name), base_id, d.sub(diff_name));
  return {d.sub(base_name), d.sub(diff_name)};
}

/// Runs a guest restored from a diff of the snapshot guest to its end: both patterns intact.
void check_restored_guest(RestoreTarget& t) {
  Ring3Harness h(t, true);
  REQUIRE(h.run() == Stop::kExit);
  CHECK(h.exit_code() == 7);
  // RESTORED status, then A intact (64 pages), then B intact (8 pages).
  CHECK(h.results() == std::vector<std::uint32_t>{SNAPFAAS_SNAPSHOT_RESTORED, 64, 8});
}

// A hand-made ring-3 guest for the shadow-MMU test: identity page tables with 2 MiB pages, virtual
// 0x200000 mapped to physical `code_page` by PD[1]; the code there writes its tag to port 0x80.
constexpr std::uint64_t kCodeVa = 0x200000;
void write_tagged_guest(RestoreTarget& t, std::uint64_t code_page) {
  std::uint8_t* ram = t.memory().regions()[0].mapping.data();
  auto entry = [&](std::uint64_t gpa, std::size_t i, std::uint64_t v) { std::memcpy(ram + gpa + i * 8, &v, 8); };
  entry(0x1000, 0, 0x2000 | 7);
  entry(0x2000, 0, 0x3000 | 7);
  for (std::uint64_t j = 0; j < 512; ++j) entry(0x3000, j, (j << 21) | 7 | 0x80);
  entry(0x3000, 1, code_page | 7 | 0x80);
  const std::uint8_t tag_11[] = {0xb0, 0x11, 0xe6, 0x80, 0xeb, 0xfa};  // mov al,0x11; out 0x80,al; jmp
  const std::uint8_t tag_22[] = {0xb0, 0x22, 0xe6, 0x80, 0xeb, 0xfa};
  std::memcpy(ram + 0x200000, tag_11, sizeof tag_11);
  std::memcpy(ram + 0x400000, tag_22, sizeof tag_22);
}

/// Saves the tagged guest (about to run its first instruction) with PD[1] → `code_page`.
void save_tagged(const std::string& dir, std::uint64_t code_page) {
  RestoreTarget t = RestoreTarget::create(kvm(), kMem, 1, false);
  write_tagged_guest(t, code_page);
  KvmVcpu& v = t.vcpus()[0];
  v.set_sregs(ring3_sregs(v.sregs()));
  kvm_regs regs{};
  regs.rip = kCodeVa;
  regs.rflags = 2 | (3u << 12);
  v.set_regs(regs);
  std::vector<KvmVcpu*> vcpus{&v};
  const MicrovmState state = capture_microvm(t.vm(), t.memory(), vcpus, true);
  (void)save_snapshot(dir, state, t.vm(), t.memory(), std::nullopt);
}

/// Runs vCPU 0 to its first exit; the byte written to port 0x80 (-1 for any other exit).
int port_tag(RestoreTarget& t) {
  KvmVcpu& v = t.vcpus()[0];
  int r = 0;
  do {
    r = v.run();
  } while (r == -EINTR || r == -EAGAIN);
  const kvm_run& run = v.run_struct();
  if (r != 0 || run.exit_reason != KVM_EXIT_IO || run.io.port != 0x80) return -1;
  return reinterpret_cast<const std::uint8_t*>(&run)[run.io.data_offset];
}
}  // namespace

TEST_CASE("a prepared VM restores base+diff with its base mapping reused and vCPU state in place skipped") {
  TempDir d("prepared");
  const std::vector<std::string> chain = make_chain(d);
  for (int i = 0; i < 3; ++i) {
    const LoadedSnapshot snap = load_snapshot(chain);
    RestoreTarget t = RestoreTarget::create(kvm(), kMem, 1, false);
    t.prepare(snap);
    CHECK(t.prepared());
    const RestoreTimings rt = t.restore(snap, {});
    CHECK_FALSE(t.prepared());  // used up
    CHECK(rt.layers_premapped == 1);
    CHECK(rt.memory.mappings >= 1);  // the diff ranges only
    // prepare() set the candidate's vCPU state: only regs and one KVM_SET_MSRS are left.
    CHECK(rt.vcpu.skipped == 5);
    CHECK(rt.vcpu.ioctls == 2);
    CHECK(rt.flush_ms == 0);
    check_restored_guest(t);
  }
}

TEST_CASE("prepare refuses a candidate with another vCPU count") {
  TempDir d("prepared");
  const LoadedSnapshot snap = load_snapshot(make_chain(d));
  RestoreTarget t = RestoreTarget::create(kvm(), kMem, 2, false);
  try {
    t.prepare(snap);
    FAIL("prepare accepted a 1-vCPU snapshot for a 2-vCPU VM");
  } catch (const snapfaas::common::Error& e) {
    CHECK(std::string(e.what()).find("vCPU count mismatch") != std::string::npos);
  }
  CHECK_FALSE(t.prepared());
}

TEST_CASE("eager preparation: the base read ahead, the diff read at the request") {
  TempDir d("prepared");
  const std::vector<std::string> chain = make_chain(d);
  const LoadedSnapshot snap = load_snapshot(chain);
  RestoreTarget t = RestoreTarget::create(kvm(), kMem, 1, false);
  PrepareOptions prep;
  prep.eager_base = true;
  t.prepare(snap, prep);
  RestoreOptions opt;
  opt.eager_base = opt.eager_diff = true;
  const RestoreTimings rt = t.restore(snap, opt);
  CHECK(rt.layers_premapped == 1);
  CHECK(rt.memory.bytes_copied > 0);
  check_restored_guest(t);
}

TEST_CASE("a preparation for another base, another eager option, or without the vCPU entry") {
  TempDir d("prepared");
  const std::vector<std::string> chain = make_chain(d);
  const std::vector<std::string> other = make_chain(d, "base2", "diff2");
  const LoadedSnapshot snap = load_snapshot(chain);
  SUBCASE("another base: mapped in full at the request") {
    RestoreTarget t = RestoreTarget::create(kvm(), kMem, 1, false);
    t.prepare(load_snapshot(other));
    const RestoreTimings rt = t.restore(snap, {});
    CHECK(rt.layers_premapped == 0);
    check_restored_guest(t);
  }
  SUBCASE("prepared lazy, restored eager") {
    RestoreTarget t = RestoreTarget::create(kvm(), kMem, 1, false);
    t.prepare(snap);
    RestoreOptions opt;
    opt.eager_base = true;
    const RestoreTimings rt = t.restore(snap, opt);
    CHECK(rt.layers_premapped == 0);
    check_restored_guest(t);
  }
  SUBCASE("no vCPU entry") {
    RestoreTarget t = RestoreTarget::create(kvm(), kMem, 1, false);
    PrepareOptions prep;
    prep.enter_vcpus = false;
    t.prepare(snap, prep);
    const RestoreTimings rt = t.restore(snap, {});
    CHECK(rt.layers_premapped == 1);
    check_restored_guest(t);
  }
}

TEST_CASE("handing out the RAM after prepare ends it: scribbled base pages are mapped over again") {
  TempDir d("prepared");
  const std::vector<std::string> chain = make_chain(d);
  const LoadedSnapshot snap = load_snapshot(chain);
  RestoreTarget t = RestoreTarget::create(kvm(), kMem, 1, false);
  t.prepare(snap);
  REQUIRE(t.prepared());
  // Overwrite pattern A (16 MiB, 64 pages; the base holds it) through the RAM accessor.
  const GuestRegion& ram = t.memory().regions()[0];
  CHECK_FALSE(t.prepared());
  std::memset(ram.mapping.data() + 16 * kMiB, 0x5a, 64 * 4096);
  const RestoreTimings rt = t.restore(snap, {});
  CHECK(rt.layers_premapped == 0);
  check_restored_guest(t);
}

TEST_CASE("handing out the vCPUs after prepare ends it") {
  TempDir d("prepared");
  const std::vector<std::string> chain = make_chain(d);
  const LoadedSnapshot snap = load_snapshot(chain);
  RestoreTarget t = RestoreTarget::create(kvm(), kMem, 1, false);
  t.prepare(snap);
  // Someone sets vCPU state behind the preparation's back: it must be set again by the restore.
  KvmVcpu& v = t.vcpus()[0];
  CHECK_FALSE(t.prepared());
  kvm_sregs sregs = v.sregs();
  sregs.cr3 = 0x7000;
  v.set_sregs(sregs);
  const RestoreTimings rt = t.restore(snap, {});
  CHECK(rt.vcpu.skipped == 0);
  CHECK(t.vcpus()[0].sregs().cr3 == snap.state.vcpus[0].sregs.cr3);
  check_restored_guest(t);
}

TEST_CASE("restoring a VM that ran: no shadow page table of the previous guest survives") {
  // Two snapshots that differ only in one page-table entry: virtual 0x200000 runs tag 0x11 in one,
  // tag 0x22 in the other. Without a shadow-MMU flush KVM (shadow paging) keeps translating through
  // the first guest's page tables after the second is mapped in, and the guest writes 0x11.
  TempDir d("prepared");
  save_tagged(d.sub("a"), 0x200000);
  save_tagged(d.sub("b"), 0x400000);
  const LoadedSnapshot a = load_snapshot(std::vector<std::string>{d.sub("a")});
  const LoadedSnapshot b = load_snapshot(std::vector<std::string>{d.sub("b")});
  SUBCASE("restore, run, restore") {
    RestoreTarget t = RestoreTarget::create(kvm(), kMem, 1, false);
    (void)t.restore(a, {});
    CHECK(port_tag(t) == 0x11);
    const RestoreTimings rt = t.restore(b, {});
    CHECK(rt.flush_ms > 0);
    CHECK(port_tag(t) == 0x22);
    (void)t.restore(a, {});
    CHECK(port_tag(t) == 0x11);
  }
  SUBCASE("restore, run, prepare, restore") {
    RestoreTarget t = RestoreTarget::create(kvm(), kMem, 1, false);
    (void)t.restore(a, {});
    CHECK(port_tag(t) == 0x11);
    PrepareOptions prep;
    prep.enter_vcpus = false;  // the flush then comes from the VM having run, not from the warm-up
    t.prepare(b, prep);
    (void)t.restore(b, {});
    CHECK(port_tag(t) == 0x22);
  }
  SUBCASE("prepared (vCPU entered by the warm-up) twice") {
    RestoreTarget t = RestoreTarget::create(kvm(), kMem, 1, false);
    t.prepare(a);
    (void)t.restore(a, {});
    CHECK(port_tag(t) == 0x11);
    t.prepare(b);
    (void)t.restore(b, {});
    CHECK(port_tag(t) == 0x22);
  }
}

TEST_CASE("apply_vcpu_state sets only what differs from the vCPU's state, the MSRs in one ioctl") {
  TempDir d("prepared");
  const std::vector<std::string> chain = make_chain(d);
  const LoadedSnapshot snap = load_snapshot(chain);
  RestoreTarget t = RestoreTarget::create(kvm(), kMem, 1, false);
  (void)t.restore(snap, {});  // learns which MSRs this KVM rejects
  KvmVcpu& v = t.vcpus()[0];
  const VcpuState& s = snap.state.vcpus[0];
  const VcpuState current = capture_vcpu_state(v, false);
  VcpuApplyStats stats;
  apply_vcpu_state(v, s, &current, &stats);
  CHECK(stats.skipped == 5);  // sregs, xsave, xcrs, events, mp_state
  CHECK(stats.ioctls == 2);   // regs and one KVM_SET_MSRS
  VcpuApplyStats all;
  apply_vcpu_state(v, s, nullptr, &all);
  CHECK(all.skipped == 0);
  CHECK(all.ioctls == 7);
  check_restored_guest(t);
}
