// The snapshot point through the real Vmm (multi-threaded vCPU loop): boot → base snapshot and
// exit; restore into a new Vmm → diff snapshot; restore base+diff → the guest finishes with both
// patterns intact; also on 2 vCPUs, and a Vmm of the wrong vCPU count is refused.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>

#include "common/error.h"
#include "runner/snapshot/vmm_snapshot.h"
#include "tests/runner/snapshot/ring3_harness.h"

namespace fs = std::filesystem;
using namespace snapfaas::runner;
using namespace snapfaas::runner::snapshot;

namespace {
struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/snapfaas_vmmsnap_XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
  [[nodiscard]] std::string sub(const char* n) const { return (path / n).string(); }
};

VmmConfig config(std::uint32_t vcpus) {
  VmmConfig c;
  c.kernel = test::guest_path();
  c.mem_mib = 128;
  c.vcpu_count = vcpus;
  c.dirty_log = true;
  c.console = "/dev/null";
  return c;
}
}  // namespace

TEST_CASE("Vmm: base at the snapshot point, diff from a restored Vmm, base+diff runs to the end") {
  for (std::uint32_t vcpus : {1u, 2u}) {
    CAPTURE(vcpus);
    TempDir d;
    {
      Vmm vmm(config(vcpus));
      SnapshotTrigger point(vmm, {.out_dir = d.sub("base"), .base = std::nullopt, .restored = false, .ring3_port = true});
      CHECK(vmm.run() == 0);  // stopped by the snapshot point, not by the guest
    }
    REQUIRE(fs::exists(d.sub("base") + "/state"));
    SnapshotId base_id{};
    {
      Vmm vmm(config(vcpus));
      const std::vector<std::string> dirs{d.sub("base")};
      base_id = restore_vmm(vmm, dirs, {}, true);
      SnapshotTrigger point(vmm, {.out_dir = d.sub("diff"), .base = base_id, .restored = true, .ring3_port = true});
      CHECK(vmm.run() == 0);
    }
    REQUIRE(fs::exists(d.sub("diff") + "/state"));
    for (bool eager : {false, true}) {
      Vmm vmm(config(vcpus));
      const std::vector<std::string> dirs{d.sub("base"), d.sub("diff")};
      RestoreOptions opt;
      opt.eager_base = opt.eager_diff = eager;
      (void)restore_vmm(vmm, dirs, opt, true);
      SnapshotTrigger point(vmm, {.out_dir = d.sub("unused"), .base = std::nullopt, .restored = true, .ring3_port = true});
      CHECK(vmm.run() == 7);  // the guest's own exit: A and B intact after the restore
    }
    Vmm wrong(config(vcpus + 1));
    const std::vector<std::string> dirs{d.sub("base")};
    CHECK_THROWS_WITH_AS((void)restore_vmm(wrong, dirs, {}, true), doctest::Contains("vCPU count mismatch"),
                         snapfaas::common::Error);
  }
}
