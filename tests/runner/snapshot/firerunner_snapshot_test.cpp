// firerunner's snapshot flags end to end (separate processes): --snapshot-out at the ring-3
// snapshot point, --load_dir base --snapshot-out diff, --load_dir base,diff (and --diff_dirs),
// --copy_base/--copy_diff, and clear one-line errors for a bad chain.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "runner/snapshot/snapshot_file.h"
#include "tests/runner/run_process.h"

namespace fs = std::filesystem;
using snapfaas::test::run_process;

namespace {
struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/snapfaas_frsnap_XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
  [[nodiscard]] std::string sub(const char* n) const { return (path / n).string(); }
};

std::vector<std::string> base_args() {
  return {SNAPFAAS_FIRERUNNER, "--kernel", SNAPFAAS_SNAPSHOT_GUEST, "--mem_size", "128", "--timeout", "20"};
}
std::vector<std::string> with(std::vector<std::string> a, std::initializer_list<std::string> more) {
  a.insert(a.end(), more);
  return a;
}
}  // namespace

TEST_CASE("firerunner: base, diff, restore base+diff") {
  TempDir d;
  const auto base = run_process(with(base_args(), {"--snapshot-out", d.sub("base")}));
  CHECK(base.status == 0);
  CHECK(base.out.find("Snapshot generation succeeds") != std::string::npos);
  CHECK(base.out.find("result 160\n") != std::string::npos);  // 0xa0 before the snapshot point

  const auto diff = run_process(with(base_args(), {"--load_dir", d.sub("base"), "--dump_dir", d.sub("diff")}));
  CHECK(diff.status == 0);
  CHECK(diff.out.find("Snapshot generation succeeds") != std::string::npos);
  CHECK(diff.out.find("result 2\n") != std::string::npos);  // the restored guest saw RESTORED

  const auto full = run_process(with(base_args(), {"--load_dir", d.sub("base") + "," + d.sub("diff")}));
  CHECK(full.status == 7);  // both patterns intact
  CHECK(full.out.find("result 160\n") == std::string::npos);  // nothing before the snapshot point re-ran

  const auto seed = run_process(
      with(base_args(), {"--load_dir", d.sub("base"), "--diff_dirs", d.sub("diff"), "--copy_base", "--copy_diff"}));
  CHECK(seed.status == 7);

  const auto wrong = run_process(with(base_args(), {"--load_dir", d.sub("diff")}));
  CHECK(wrong.status == 1);
  CHECK(wrong.err.find("is a memory-diff file, expected memory-full") != std::string::npos);
  const auto vcpus = run_process(with(base_args(), {"--load_dir", d.sub("base"), "--vcpu_count", "2"}));
  CHECK(vcpus.status == 1);
  CHECK(vcpus.err.find("vCPU count mismatch") != std::string::npos);
}

TEST_CASE("firerunner --verify_memory: a memory file whose payload was altered is refused at load") {
  TempDir d;
  REQUIRE(run_process(with(base_args(), {"--snapshot-out", d.sub("base")})).status == 0);
  const std::string memory = d.sub("base") + "/memory";
  std::uint64_t at = 0;
  {
    using namespace snapfaas::runner::snapshot;
    const SnapshotFile f = open_snapshot_file(memory, FileKind::kMemoryFull, Verify::kHeader);
    REQUIRE(!f.ranges.empty());
    at = f.header.payload_offset + f.ranges.back().offset + 123;  // a guest page, not the header
  }
  {
    std::fstream f(memory, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(at));
    const char c = static_cast<char>(f.get());
    f.seekp(static_cast<std::streamoff>(at));
    f.put(static_cast<char>(c ^ 0x5a));
  }
  // Without the option only headers are checked: the altered page goes into the guest.
  const auto unchecked = run_process(with(base_args(), {"--load_dir", d.sub("base")}));
  CHECK(unchecked.err.find("CRC mismatch") == std::string::npos);
  const auto checked = run_process(with(base_args(), {"--load_dir", d.sub("base"), "--verify_memory"}));
  CHECK(checked.status == 1);
  CHECK(checked.err.find("CRC mismatch") != std::string::npos);
}
