// Native ring-3 snapshot/restore: boot → pattern → snapshot → restore N times; diffs hold only the
// dirtied pages; guest writes never reach the files; restored VMs share clean pages (PSS); and the
// validation errors of a bad chain or a mismatching VM.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "runner/snapshot/memory_file.h"
#include "runner/snapshot/snapshot_abi.h"
#include "runner/snapshot/working_set.h"
#include "tests/runner/snapshot/restore_test_support.h"

using namespace snapfaas::runner;
using namespace snapfaas::runner::snapshot;
using namespace snapfaas::runner::snapshot::test;

namespace {
constexpr std::uint64_t kA = 16 * kMiB;  // snapshot_guest.c A_BASE, 64 pages
constexpr std::uint64_t kB = 32 * kMiB;  // B_BASE, 8 pages

std::string load_error(const std::vector<std::string>& dirs, std::uint32_t vcpus = 1) {
  try {
    const LoadedSnapshot s = load_snapshot(dirs);
    RestoreTarget t = RestoreTarget::create(kvm(), kMem, vcpus, false);
    (void)t.restore(s, {});
  } catch (const snapfaas::common::Error& e) {
    return e.what();
  }
  return "";
}

/// Rss and Pss (KiB) of this process's mappings of `file`.
std::pair<std::uint64_t, std::uint64_t> rss_pss_of(const std::string& file) {
  std::ifstream in("/proc/self/smaps");
  std::string line;
  bool inside = false;
  std::uint64_t rss = 0, pss = 0;
  while (std::getline(in, line)) {
    // A mapping header: "start-end perms offset dev inode [path]"; attribute lines are "Key: value".
    const std::size_t sp = line.find(' ');
    const bool header = sp != std::string::npos && line.find('-') < sp && line[sp - 1] != ':';
    if (header) {
      inside = line.size() >= file.size() && line.compare(line.size() - file.size(), file.size(), file) == 0;
      continue;
    }
    if (!inside) continue;
    std::istringstream ls(line);
    std::string key;
    std::uint64_t kb = 0;
    ls >> key >> kb;
    if (key == "Rss:") rss += kb;
    if (key == "Pss:") pss += kb;
  }
  return {rss, pss};
}
}  // namespace

TEST_CASE("boot → snapshot → restore N times: pattern intact, same results as the booted VM") {
  TempDir d("restore");
  // Booted VM: runs past the snapshot point to the end.
  RestoreTarget booted = RestoreTarget::create(kvm(), kMem, 1, false);
  boot_ring3(booted, guest_path());
  Ring3Harness hb(booted, false);
  REQUIRE(hb.run() == Stop::kSnapshot);
  const SavedSnapshot base = hb.snapshot(d.sub("base"), std::nullopt);
  REQUIRE(hb.run() == Stop::kSnapshot);
  hb.port().mark_taken();
  REQUIRE(hb.run() == Stop::kExit);
  CHECK(hb.exit_code() == 7);
  CHECK(hb.results() == std::vector<std::uint32_t>{0xa0, SNAPFAAS_SNAPSHOT_TAKEN, 64, SNAPFAAS_SNAPSHOT_TAKEN, 64, 8});

  // The base holds A's 64 pages plus the image, page tables and stack, nothing near 128 MiB.
  std::uint64_t pages = 0;
  for (const PageRange& r : base.ranges) pages += r.length / kPageSize;
  CHECK(pages >= 64);
  CHECK(pages < 200);

  for (int i = 0; i < 5; ++i) {
    CAPTURE(i);
    const std::vector<std::string> dirs{d.sub("base")};
    const LoadedSnapshot snap = load_snapshot(dirs, Verify::kFull);
    RestoreTarget t = RestoreTarget::create(kvm(), kMem, 1, false);
    RestoreOptions opt;
    opt.eager_base = (i % 2) == 1;
    (void)t.restore(snap, opt);
    Ring3Harness h(t, true);
    REQUIRE(h.run() == Stop::kSnapshot);
    h.port().mark_taken();
    REQUIRE(h.run() == Stop::kExit);
    CHECK(h.exit_code() == 7);
    // First result after restore: the port said RESTORED, i.e. RIP was past the out and the guest
    // continued in its spin loop; then A intact.
    CHECK(h.results() == std::vector<std::uint32_t>{SNAPFAAS_SNAPSHOT_RESTORED, 64, SNAPFAAS_SNAPSHOT_TAKEN, 64, 8});
  }
}

TEST_CASE("diff holds only the dirtied pages; base+diff restores; writes never reach the files") {
  TempDir d("restore");
  const SnapshotId base_id = make_base(d.sub("base"));
  const std::string base_mem = d.sub("base") + "/memory";
  // Bytes of the file at A's first page and at B, before any restore.
  auto file_bytes = [&](std::uint64_t ram_off) {
    const SnapshotFile f = open_snapshot_file(base_mem, FileKind::kMemoryFull, Verify::kHeader);
    std::vector<std::uint8_t> out(kPageSize);
    REQUIRE(::pread(f.fd.get(), out.data(), out.size(), static_cast<off_t>(f.header.payload_offset + ram_off)) ==
            static_cast<ssize_t>(kPageSize));
    return out;
  };
  const std::vector<std::uint8_t> a_before = file_bytes(kA);
  CHECK(a_before != std::vector<std::uint8_t>(kPageSize, 0));

  SavedSnapshot diff;
  {
    const LoadedSnapshot snap = load_snapshot(std::vector<std::string>{d.sub("base")});
    RestoreTarget t = RestoreTarget::create(kvm(), kMem, 1, false);
    (void)t.restore(snap, {});
    Ring3Harness h(t, true);
    REQUIRE(h.run() == Stop::kSnapshot);  // guest wrote B (8 pages) and asked again
    diff = h.snapshot(d.sub("diff"), base_id);
    // Host write into restored guest RAM (A, which is in the base file): CoW, never the file.
    const std::vector<std::uint8_t> junk(kPageSize, 0xee);
    REQUIRE(t.memory().write(kA, junk));
    REQUIRE(h.run() == Stop::kExit);
    CHECK(h.results() == std::vector<std::uint32_t>{SNAPFAAS_SNAPSHOT_RESTORED, 64, SNAPFAAS_SNAPSHOT_TAKEN, 63, 8});
  }
  CHECK(diff.base_id == base_id);
  std::uint64_t pages = 0;
  bool has_b = false;
  for (const PageRange& r : diff.ranges) {
    pages += r.length / kPageSize;
    if (r.offset <= kB && r.end() >= kB + 8 * kPageSize) has_b = true;
    CHECK_FALSE((r.offset < kA + 64 * kPageSize && r.end() > kA));  // A was only read
  }
  CHECK(has_b);
  CHECK(pages >= 8);
  CHECK(pages <= 8 + 4);  // B plus at most the stack/data pages the guest touched

  // Nothing the restored guest (B) or the host (A) wrote reached the base file: its payload CRC
  // still matches and the bytes at A and B are what they were.
  CHECK_NOTHROW((void)open_snapshot_file(base_mem, FileKind::kMemoryFull, Verify::kFull));
  CHECK(file_bytes(kA) == a_before);
  CHECK(file_bytes(kB) == std::vector<std::uint8_t>(kPageSize, 0));

  // base + diff: the guest resumes after its second snapshot point with A and B intact.
  for (bool eager : {false, true}) {
    CAPTURE(eager);
    const LoadedSnapshot snap = load_snapshot(std::vector<std::string>{d.sub("base"), d.sub("diff")}, Verify::kFull);
    RestoreTarget t = RestoreTarget::create(kvm(), kMem, 1, false);
    RestoreOptions opt;
    opt.eager_diff = eager;
    opt.eager_base = eager;
    (void)t.restore(snap, opt);
    Ring3Harness h(t, true);
    REQUIRE(h.run() == Stop::kExit);
    CHECK(h.exit_code() == 7);
    CHECK(h.results() == std::vector<std::uint32_t>{SNAPFAAS_SNAPSHOT_RESTORED, 64, 8});
  }
}

TEST_CASE("two restored VMs share the clean pages of the base (PSS)") {
  TempDir d("restore");
  (void)make_base(d.sub("base"));
  const std::string mem = d.sub("base") + "/memory";
  int ready[2], go[2], results[2], done[2];
  REQUIRE(::pipe(ready) == 0);
  REQUIRE(::pipe(done) == 0);
  REQUIRE(::pipe(go) == 0);
  REQUIRE(::pipe(results) == 0);
  std::vector<pid_t> kids;
  for (int k = 0; k < 2; ++k) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      std::uint64_t out[2] = {};
      try {
        KvmSystem kvm_child = KvmSystem::open();
        const LoadedSnapshot snap = load_snapshot(std::vector<std::string>{d.sub("base")});
        RestoreTarget t = RestoreTarget::create(kvm_child, kMem, 1, false);
        (void)t.restore(snap, {});
        Ring3Harness h(t, true);
        if (h.run() == Stop::kSnapshot && h.results().size() == 2 && h.results()[1] == 64) {
          // The guest read A; also read every page the base holds, so both VMs map the same set
          // (the kernel's PSS of a large folio averages over the folio: with different subsets
          // mapped, a per-process PSS would be approximate).
          volatile std::uint8_t sink = 0;
          std::uint64_t ram_off = 0;
          const std::uint8_t* host = t.memory().regions().front().mapping.data();
          for (const PageRange& r : snap.memory.front().ranges) {
            for (ram_off = r.offset; ram_off < r.end(); ram_off += kPageSize) sink = sink + host[ram_off];
          }
          char c = 1;
          (void)!::write(ready[1], &c, 1);
          (void)!::read(go[0], &c, 1);
          const auto [rss, pss] = rss_pss_of(mem);
          out[0] = rss;
          out[1] = pss;
        }
      } catch (...) {
      }
      (void)!::write(results[1], out, sizeof out);
      char c;
      (void)!::read(done[0], &c, 1);  // stay alive until the parent has both figures
      ::_exit(0);
    }
    kids.push_back(pid);
  }
  char c;
  REQUIRE(::read(ready[0], &c, 1) == 1);
  REQUIRE(::read(ready[0], &c, 1) == 1);
  REQUIRE(::write(go[1], "gg", 2) == 2);
  std::uint64_t figs[2][2];
  REQUIRE(::read(results[0], figs[0], sizeof figs[0]) == sizeof figs[0]);
  REQUIRE(::read(results[0], figs[1], sizeof figs[1]) == sizeof figs[1]);
  REQUIRE(::write(done[1], "xx", 2) == 2);
  for (pid_t p : kids) {
    int st = 0;
    ::waitpid(p, &st, 0);
  }
  for (auto& f : figs) {
    MESSAGE("memory-file mapping: Rss " << f[0] << " KiB, Pss " << f[1] << " KiB");
    CHECK(f[0] >= 64 * 4);       // at least the 64 pattern pages the guest read are mapped
  }
  // Page-cache pages shared with the other VM count half in PSS. This kernel (6.18, no per-page
  // mapcount) computes a large folio's PSS from folio-wide estimates that can charge all of it
  // to one of the two processes, so only the better-measured process and the sum are checked.
  const bool shared = figs[0][1] * 10 <= figs[0][0] * 6 || figs[1][1] * 10 <= figs[1][0] * 6;
  CHECK(shared);
  CHECK(figs[0][1] + figs[1][1] < figs[0][0] + figs[1][0]);
}

TEST_CASE("validation: diff from another base, vCPU count mismatch, corrupt state") {
  TempDir d("restore");
  const SnapshotId b1 = make_base(d.sub("b1"));
  (void)make_base(d.sub("b2"));
  (void)make_diff(d.sub("b1"), b1, d.sub("diff"));
  CHECK(load_error({d.sub("b1"), d.sub("diff")}).empty());
  CHECK(load_error({d.sub("b2"), d.sub("diff")}).find("diff made from another base") != std::string::npos);
  CHECK(load_error({d.sub("diff")}).find("is a memory-diff file, expected memory-full") != std::string::npos);
  CHECK(load_error({d.sub("b1")}, 2).find("vCPU count mismatch (snapshot has 1, the VM has 2)") != std::string::npos);
  {
    RestoreTarget t = RestoreTarget::create(kvm(), 64 * kMiB, 1, false);
    const LoadedSnapshot snap = load_snapshot(std::vector<std::string>{d.sub("b1")});
    CHECK_THROWS_WITH_AS((void)t.restore(snap, {}), doctest::Contains("RAM region 0 differs"),
                         snapfaas::common::Error);
  }
  ::truncate((d.sub("b1") + "/state").c_str(), 300);
  CHECK(load_error({d.sub("b1")}).find("/state: truncated") != std::string::npos);
}

TEST_CASE("working set: recorded after the first request, prefetched on the next restore") {
  TempDir d("restore");
  (void)make_base(d.sub("base"));
  const std::vector<std::string> dirs{d.sub("base")};
  auto has_a = [](const std::vector<PageRange>& ranges) {
    for (const PageRange& r : ranges) {
      if (r.offset <= kA && r.end() >= kA + 64 * kPageSize) return true;
    }
    return false;
  };
  {
    const LoadedSnapshot snap = load_snapshot(dirs);
    CHECK(snap.working_set.empty());
    RestoreTarget t = RestoreTarget::create(kvm(), kMem, 1, false);
    (void)t.restore(snap, {});
    CHECK_FALSE(has_a(resident_ranges(t.memory())));  // lazy: nothing faulted in yet
    Ring3Harness h(t, true);
    REQUIRE(h.run() == Stop::kSnapshot);  // the "request": reads A, writes B
    const std::vector<PageRange> ws = resident_ranges(t.memory());
    CHECK(has_a(ws));
    save_working_set(d.sub("base"), snap.memory.back().header.id, ws);
  }
  const LoadedSnapshot snap = load_snapshot(dirs);
  REQUIRE_FALSE(snap.working_set.empty());
  CHECK(has_a(snap.working_set));
  RestoreTarget t = RestoreTarget::create(kvm(), kMem, 1, false);
  RestoreOptions opt;
  opt.prefetch_working_set = true;
  const RestoreTimings timings = t.restore(snap, opt);
  CHECK(timings.prefetched_pages >= 64);
  CHECK(has_a(resident_ranges(t.memory())));  // prefetched before the guest ran
  Ring3Harness h(t, true);
  REQUIRE(h.run() == Stop::kSnapshot);
  CHECK(h.results() == std::vector<std::uint32_t>{SNAPFAAS_SNAPSHOT_RESTORED, 64});
}
