// Set-up shared by the native ring-3 restore tests (snapshot_restore_test, prepared_restore_test):
// a scratch directory, one KvmSystem per process, and the snapshot guest's base (boot → first
// snapshot point) and diff (restored base → second snapshot point). Test-only: uses doctest.
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "tests/runner/snapshot/ring3_harness.h"

namespace snapfaas::runner::snapshot::test {

/// Guest RAM of the restore tests' VMs.
inline constexpr std::uint64_t kMem = 128 * kMiB;

/// A fresh directory /tmp/snapfaas_WHAT_XXXXXX, removed with its contents on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& what) {
    std::string tmpl = "/tmp/snapfaas_" + what + "_XXXXXX";
    const char* made = ::mkdtemp(tmpl.data());
    REQUIRE(made != nullptr);
    path_ = made;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  /// Path of entry `name` inside the directory.
  [[nodiscard]] std::string sub(const char* name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

/// The process's KvmSystem, opened on first use.
inline const KvmSystem& kvm() {
  static KvmSystem k = KvmSystem::open();
  return k;
}

/// Boots the snapshot guest and saves the base in `dir` at its first snapshot point (the guest has
/// reported 0xa0, pattern A written); returns the base's id.
inline SnapshotId make_base(const std::string& dir) {
  RestoreTarget t = RestoreTarget::create(kvm(), kMem, 1, false);
  boot_ring3(t, guest_path());
  Ring3Harness h(t, false);
  REQUIRE(h.run() == Stop::kSnapshot);
  CHECK(h.results() == std::vector<std::uint32_t>{0xa0});
  return h.snapshot(dir, std::nullopt).id;
}

/// Restores the base in `base_dir` (id `base_id`), runs it to the second snapshot point (pattern B
/// written) and saves the diff in `diff_dir`.
inline SavedSnapshot make_diff(const std::string& base_dir, const SnapshotId& base_id, const std::string& diff_dir) {
  RestoreTarget t = RestoreTarget::create(kvm(), kMem, 1, false);
  (void)t.restore(load_snapshot(std::vector<std::string>{base_dir}), {});
  Ring3Harness h(t, true);
  REQUIRE(h.run() == Stop::kSnapshot);
  return h.snapshot(diff_dir, base_id);
}

}  // namespace snapfaas::runner::snapshot::test
