// SnapFaaS (seed) files load unchanged (issue 17): the fixtures in tests/supervisor/seed/ in place,
// file:// URLs, the misspelled runtimfs_dir, comma lists, inline functions, the runner binary
// found when the controller names none, diffs under snapshot_dir/diff/; malformed files answer
// one clear line naming file and line.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/error.h"
#include "supervisor/config.h"
#include "supervisor/config_paths.h"
#include "tests/common/error_of.h"

using namespace snapfaas::supervisor;
using snapfaas::test::error_of;
namespace fs = std::filesystem;

namespace {

const std::string kSeed = SNAPFAAS_SOURCE_DIR "/tests/supervisor/seed";

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() /
           ("snapfaas-seedcfg-" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path touch(const std::string& rel, bool executable = false) const {
    const fs::path p = path / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << "x";
    ::chmod(p.c_str(), executable ? 0755 : 0644);
    return p;
  }
};

}  // namespace

TEST_CASE("path_from_url: the seed's file://localhost/ URLs and plain paths") {
  CHECK(path_from_url("file://localhost/etc/snapfaas/vmlinux") == "/etc/snapfaas/vmlinux");
  CHECK(path_from_url("file:///etc/snapfaas/") == "/etc/snapfaas/");
  CHECK(path_from_url("file://localhost/my%20images/a.ext4") == "/my images/a.ext4");
  CHECK(path_from_url("images/a.ext4") == "images/a.ext4");
  CHECK(path_from_url("./python3/") == "./python3/");
  CHECK(error_of([] { (void)path_from_url("http://example/vmlinux"); }).find("only file:// URLs") != std::string::npos);
  CHECK(error_of([] { (void)path_from_url("file://otherhost/x"); }).find("host 'otherhost'") != std::string::npos);
  CHECK(error_of([] { (void)path_from_url("file://localhost"); }).find("absolute path") != std::string::npos);
  CHECK(error_of([] { (void)path_from_url("file:///a%2"); }).find("percent-escape") != std::string::npos);
  CHECK(error_of([] { (void)path_from_url("file:///a%00b"); }).find("percent-escape") != std::string::npos);
}

TEST_CASE("seed controller file (README keys, URLs, runtimfs_dir, no firerunner_path) loads in place") {
  const ControllerConfig c = load_controller_config(kSeed + "/etc/snapfaas/example-controller-config.yaml");
  CHECK(c.kernel_path == "/etc/snapfaas/images/vmlinux-4.20.0");
  CHECK(c.runtimefs_dir == "/etc/snapfaas/images/runtimefs");  // from the misspelled key
  CHECK(c.appfs_dir == "/etc/snapfaas/images/appfs");
  CHECK(c.snapshot_dir == "/etc/snapfaas/images/snapshot");
  CHECK(c.function_config == "/etc/snapfaas/example-function-configs.yaml");
  CHECK(c.firerunner_path.empty());  // found at start (runner_binary)
  CHECK(c.functions.empty());
}

TEST_CASE("seed function file (list form, comma-separated diff_dirs, a boot function) loads in place") {
  const auto fs_ = load_function_configs(kSeed + "/etc/snapfaas/example-function-configs.yaml");
  REQUIRE(fs_.size() == 2);
  CHECK(fs_[0].name == "hello");
  CHECK(fs_[0].runtimefs == "python3.ext4");
  CHECK(fs_[0].load_dir == "python3");
  CHECK(fs_[0].diff_dirs == std::vector<std::string>{"hello"});
  CHECK(fs_[0].copy_diff);
  CHECK(fs_[1].name == "lorempy2");
  CHECK_FALSE(fs_[1].restores_snapshot());
  ControllerConfig c;
  c.runtimefs_dir = "/etc/snapfaas/images/runtimefs";
  c.appfs_dir = "/etc/snapfaas/images/appfs";
  CHECK(runtimefs_path(c, fs_[0]) == "/etc/snapfaas/images/runtimefs/python3.ext4");
  CHECK(appfs_path(c, fs_[1]) == "/etc/snapfaas/images/appfs/lorempy2.ext2");
}

TEST_CASE("seed's later controller: inline functions map, kernel_args, load_dir 'base/,diff/NAME/', load_ws") {
  const std::string path = kSeed + "/resources/controller-snap.yaml";
  const ControllerConfig c = load_controller_config(path);
  CHECK(c.firerunner_path == kSeed + "/resources/firerunner");
  CHECK(c.kernel_args == "console=ttyS0");
  CHECK(c.allow_network);
  CHECK(c.function_config.empty());
  CHECK(c.snapshot_dir == kSeed + "/resources/images/snapshot");
  const auto functions = load_functions(c, path);
  REQUIRE(functions.size() == 2);
  const FunctionConfig& hello = functions[0];
  CHECK(hello.name == "hello");
  CHECK(hello.load_dir == "./python3/");
  CHECK(hello.diff_dirs == std::vector<std::string>{"./diff/hello/"});
  CHECK(hello.copy_base);
  CHECK(snapshot_layers(c, hello) ==
        std::vector<std::string>{kSeed + "/resources/images/snapshot/python3", kSeed + "/resources/images/snapshot/diff/hello"});
  CHECK(runtimefs_path(c, hello) == kSeed + "/resources/images/runtimefs/pythonfs.ext4");
  CHECK(appfs_path(c, hello) == kSeed + "/resources/images/appfs/hello/output.ext2");
}

TEST_CASE("controller keys: runtimfs_dir and kernel_boot_args aliases, firerunner_path optional, given twice") {
  const auto c = parse_controller_config(
      "kernel_path: k\nruntimfs_dir: r\nkernel_boot_args: quiet\nfunction_config: f\nallow_network: false\n", "ctl.yaml");
  CHECK(c.runtimefs_dir == "r");
  CHECK(c.kernel_args == "quiet");
  CHECK(c.firerunner_path.empty());
  CHECK_FALSE(c.allow_network);
  CHECK(error_of([] { (void)parse_controller_config("kernel_path: k\nfunction_config: f\nruntimefs_dir: a\nruntimfs_dir: b\n", "ctl.yaml"); })
            .find("ctl.yaml:4: field 'runtimefs_dir' given twice") != std::string::npos);
  CHECK(error_of([] { (void)parse_controller_config("kernel_path: k\n", "ctl.yaml"); })
            .find("ctl.yaml:1: missing field 'function_config'") != std::string::npos);
  CHECK(error_of([] { (void)parse_controller_config("function_config: f\n", "ctl.yaml"); })
            .find("ctl.yaml:1: missing field 'kernel_path'") != std::string::npos);
  CHECK(error_of([] { (void)parse_controller_config("kernel_path: http://host/vmlinux\nfunction_config: f\n", "ctl.yaml"); })
            .find("ctl.yaml:1: field 'kernel_path': 'http://host/vmlinux': only file:// URLs") != std::string::npos);
  CHECK(error_of([] { (void)parse_controller_config("kernel_path: k\nfunction_config: f\nallow_network: maybe\n", "ctl.yaml"); })
            .find("ctl.yaml:3: field 'allow_network' must be a boolean") != std::string::npos);
  CHECK(error_of([] {
          (void)parse_controller_config("kernel_path: k\nfunction_config: f\nfunctions:\n  a: {runtimefs: r}\n", "ctl.yaml");
        }).find("both 'function_config' and 'functions'") != std::string::npos);
  CHECK(error_of([] { (void)parse_controller_config("kernel_path: k\nfunctions: 3\n", "ctl.yaml"); })
            .find("ctl.yaml:2: functions must be a map") != std::string::npos);
}

TEST_CASE("function keys: URL paths, comma lists, the seed's fc_wrapper-only keys warned, malformed values") {
  const auto f = parse_function_configs(
      "- name: a\n  runtimefs: file://localhost/images/py.ext4\n  load_dir: 'base/, diff/a/ ,'\n  diff_dirs: 'x, y'\n"
      "  cmdline: quiet\n  dump_dir: /tmp/out\n  load_ws: true\n",
      "fn.yaml");
  REQUIRE(f.size() == 1);
  CHECK(f[0].runtimefs == "/images/py.ext4");
  CHECK(f[0].load_dir == "base/");
  CHECK(f[0].diff_dirs == std::vector<std::string>{"diff/a/", "x", "y"});  // load_dir's diffs first
  CHECK(f[0].load_ws);  // the seed's key, honoured (working-set prefetch at restore)
  CHECK(error_of([] { (void)parse_function_configs("f:\n  runtimefs: r\n  load_dir: ' , '\n", "fn.yaml"); })
            .find("fn.yaml:3: field 'load_dir' is empty") != std::string::npos);
  CHECK(error_of([] { (void)parse_function_configs("f:\n  runtimefs: r\n  load_dir: b\n  diff_dirs: {a: 1}\n", "fn.yaml"); })
            .find("fn.yaml:4: field 'diff_dirs' must be a list") != std::string::npos);
  CHECK(error_of([] { (void)parse_function_configs("f:\n  runtimefs: ftp://x/r\n", "fn.yaml"); })
            .find("fn.yaml:2: field 'runtimefs': 'ftp://x/r': only file:// URLs") != std::string::npos);
  CHECK(error_of([] { (void)parse_function_configs("f:\n  runtimefs: r\n  memory: 1\n  memory: 2\n", "fn.yaml"); })
            .find("fn.yaml:4: function 'f': field 'memory' given twice") != std::string::npos);
  CHECK(error_of([] { (void)parse_function_configs("", "fn.yaml"); }).find("fn.yaml") == 0);
  const std::string tab = error_of([] { (void)parse_function_configs("f:\n\truntimefs: r\n", "fn.yaml"); });
  CHECK(tab.find("fn.yaml:2: malformed YAML") == 0);
  CHECK(tab.find('\n') == std::string::npos);
}

TEST_CASE("snapshot_layers: a diff under snapshot_dir/NAME, else snapshot_dir/diff/NAME (the seed's)") {
  TempDir d;
  d.touch("snap/python3/state");
  d.touch("snap/diff/seedonly/state");
  d.touch("snap/both/state");
  d.touch("snap/diff/both/state");
  ControllerConfig c;
  c.snapshot_dir = d.path.string() + "/snap";
  FunctionConfig f;
  f.load_dir = "python3";
  f.diff_dirs = {"seedonly", "both", "missing", "/abs/diff"};
  const auto layers = snapshot_layers(c, f);
  REQUIRE(layers.size() == 5);
  CHECK(layers[0] == c.snapshot_dir + "/python3");
  CHECK(layers[1] == c.snapshot_dir + "/diff/seedonly");
  CHECK(layers[2] == c.snapshot_dir + "/both");     // ours first when both exist
  CHECK(layers[3] == c.snapshot_dir + "/missing");  // neither: the runner names the missing one
  CHECK(layers[4] == "/abs/diff");
  f.load_dir.clear();
  f.diff_dirs.clear();
  CHECK(snapshot_layers(c, f).empty());  // boots
}

TEST_CASE("find_firerunner: beside the supervisor, in the build tree, on PATH; else every place named") {
  TempDir d;
  const fs::path installed = d.touch("bin/snapfaas-supervisor", true);
  d.touch("bin/firerunner", true);
  CHECK(find_firerunner(installed.string(), "") == (d.path / "bin/firerunner").string());
  const fs::path built = d.touch("build/supervisor/snapfaas-supervisor", true);
  d.touch("build/runner/firerunner", true);
  CHECK(find_firerunner(built.string(), (d.path / "bin").string()) == (d.path / "build/runner/firerunner").string());
  const fs::path lone = d.touch("lone/snapfaas-supervisor", true);
  d.touch("path1/firerunner", false);  // not executable: skipped
  const std::string path_env = (d.path / "path1").string() + "::" + (d.path / "bin").string();
  CHECK(find_firerunner(lone.string(), path_env) == (d.path / "bin/firerunner").string());
  const std::string none = error_of([&] { (void)find_firerunner(lone.string(), (d.path / "path1").string()); });
  CHECK(none.find("no firerunner_path") == 0);
  CHECK(none.find((d.path / "lone/firerunner").string()) != std::string::npos);
  CHECK(none.find((d.path / "runner/firerunner").string()) != std::string::npos);
  CHECK(none.find((d.path / "path1/firerunner").string()) != std::string::npos);
  ControllerConfig c;
  c.firerunner_path = "/opt/firerunner";
  CHECK(runner_binary(c) == "/opt/firerunner");
}

TEST_CASE("load_functions: paths without a controller directory are the function file's; allow_network") {
  TempDir d;
  std::ofstream(d.path / "fns.yaml") << "a:\n  runtimefs: rt/py.ext4\n  appfs: a.ext2\n  load_dir: snaps/base\n"
                                        "  diff_dirs: [snaps/a]\n  network: true\n";
  std::ofstream(d.path / "ctl.yaml") << "kernel_path: k\nfunction_config: fns.yaml\nappfs_dir: apps\n";
  const std::string ctl = (d.path / "ctl.yaml").string();
  ControllerConfig c = load_controller_config(ctl);
  const auto functions = load_functions(c, ctl);
  REQUIRE(functions.size() == 1);
  CHECK(runtimefs_path(c, functions[0]) == (d.path / "rt/py.ext4").string());
  CHECK(appfs_path(c, functions[0]) == (d.path / "apps/a.ext2").string());
  CHECK(snapshot_layers(c, functions[0]) ==
        std::vector<std::string>{(d.path / "snaps/base").string(), (d.path / "snaps/a").string()});
  c.allow_network = false;
  CHECK(error_of([&] { (void)load_functions(c, ctl); }).find("function 'a' has network: true but") != std::string::npos);
}
