// JailContents: a runner's jail holds the shared files and those of the functions it may serve —
// never another function's, never a whole configured directory.
#include "supervisor/jail_contents.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "supervisor/function_table.h"

namespace fs = std::filesystem;
using namespace snapfaas::supervisor;

TEST_CASE("jail contents: shared files plus the servable functions' images and snapshots only") {
  const fs::path d = fs::temp_directory_path() / ("snapfaas-jailc-" + std::to_string(::getpid()));
  for (const char* sub : {"snapshots/python3", "snapshots/hello", "snapshots/secret", "appfs", "images"}) {
    fs::create_directories(d / sub);
  }
  for (const char* f : {"appfs/hello.ext2", "appfs/secret.ext2", "images/rootfs.ext4", "images/vmlinux"}) {
    std::ofstream(d / f) << "x";
  }
  ControllerConfig controller;
  controller.snapshot_dir = (d / "snapshots").string();
  controller.appfs_dir = (d / "appfs").string();
  controller.runtimefs_dir = (d / "images").string();
  std::vector<FunctionConfig> functions(2);
  functions[0].name = "hello";
  functions[0].appfs = "hello.ext2";
  functions[0].load_dir = "python3";
  functions[0].diff_dirs = {"hello"};
  functions[1].name = "secret";
  functions[1].appfs = "secret.ext2";
  functions[1].load_dir = "python3";
  functions[1].diff_dirs = {"secret"};
  const JailContents jail = jail_contents((d / "images/vmlinux").string(), (d / "images/rootfs.ext4").string(),
                                          "", functions, function_table(controller, functions));
  CHECK(jail.function_count() == 2);
  const std::vector<std::uint32_t> only_hello{0};
  const auto paths = jail.paths_for(only_hello);
  auto has = [&](const fs::path& p) { return std::find(paths.begin(), paths.end(), p.string()) != paths.end(); };
  CHECK(has(d / "images/vmlinux"));
  CHECK(has(d / "images/rootfs.ext4"));
  CHECK(has(d / "snapshots/python3"));
  CHECK(has(d / "snapshots/hello"));
  CHECK(has(d / "appfs/hello.ext2"));
  CHECK_FALSE(has(d / "snapshots/secret"));    // another function's diff
  CHECK_FALSE(has(d / "appfs/secret.ext2"));   // another function's app
  for (const std::string& dir : {controller.snapshot_dir, controller.appfs_dir, controller.runtimefs_dir}) {
    CHECK_FALSE(has(dir));  // never a whole configured directory
  }
  const std::vector<std::uint32_t> both{0, 1};
  CHECK(jail.paths_for(both).size() == paths.size() + 2);
  const std::vector<std::uint32_t> bad{2};
  CHECK_THROWS(jail.paths_for(bad));
  fs::remove_all(d);
}
