// Tests of supervisor/config: good controller and function files, malformed YAML, missing fields,
// wrong types, unknown keys; errors name the file and line.
#include <doctest/doctest.h>

#include <string>

#include "common/error.h"
#include "supervisor/config.h"
#include "tests/common/error_of.h"

using namespace snapfaas::supervisor;
using snapfaas::test::error_of;

TEST_CASE("controller config: all fields") {
  const auto c = parse_controller_config(
      "kernel_path: vmlinux\nruntimefs_dir: rootfs\nappfs_dir: apps\nsnapshot_dir: snaps\n"
      "function_config: functions.yaml\nfirerunner_path: /bin/firerunner\n",
      "ctl.yaml");
  CHECK(c.kernel_path == "vmlinux");
  CHECK(c.runtimefs_dir == "rootfs");
  CHECK(c.appfs_dir == "apps");
  CHECK(c.snapshot_dir == "snaps");
  CHECK(c.function_config == "functions.yaml");
  CHECK(c.firerunner_path == "/bin/firerunner");
}

TEST_CASE("controller config: missing field, malformed YAML, wrong type") {
  CHECK(error_of([] { (void)parse_controller_config("kernel_path: k\nfirerunner_path: r\n", "ctl.yaml"); })
            .find("ctl.yaml:1: missing field 'function_config'") != std::string::npos);
  const std::string malformed = error_of([] { (void)parse_controller_config("kernel_path: [a,\n  b: c\n", "ctl.yaml"); });
  CHECK(malformed.find("ctl.yaml:") == 0);
  CHECK(malformed.find("malformed YAML") != std::string::npos);
  CHECK(error_of([] {
          (void)parse_controller_config("kernel_path: k\nfunction_config: f\nfirerunner_path: [1, 2]\n", "ctl.yaml");
        }).find("ctl.yaml:3: field 'firerunner_path' must be a string") != std::string::npos);
  CHECK(error_of([] { (void)parse_controller_config("- a\n- b\n", "ctl.yaml"); }).find("must be a map") !=
        std::string::npos);
}

TEST_CASE("controller config: unknown keys are ignored (warned)") {
  const auto c = parse_controller_config("kernel_path: k\nfunction_config: f\nfirerunner_path: r\nbogus: 1\n", "c");
  CHECK(c.firerunner_path == "r");
}

TEST_CASE("function config: map form with every field, snapshot or boot") {
  const auto fs = parse_function_configs(R"(
hello:
  runtimefs: python3.ext4
  appfs: hello.ext2
  vcpus: 2
  memory: 256
  concurrency_limit: 4
  copy_base: true
  copy_diff: false
  load_ws: true
  load_dir: python3
  diff_dirs: [hello, extra]
plain:
  runtimefs: python3.ext4
  appfs: plain.ext2
echo:
  kernel: guests/echo
  ring3: true
  memory: 16
  colour: blue
)",
                                         "fn.yaml");
  REQUIRE(fs.size() == 3);
  CHECK(fs[0].name == "hello");
  CHECK(fs[0].vcpus == 2);
  CHECK(fs[0].memory == 256);
  CHECK(fs[0].concurrency_limit == 4);
  CHECK(fs[0].copy_base);
  CHECK_FALSE(fs[0].copy_diff);
  CHECK(fs[0].load_ws);
  CHECK(fs[0].restores_snapshot());
  CHECK(fs[0].diff_dirs == std::vector<std::string>{"hello", "extra"});
  CHECK(fs[1].name == "plain");
  CHECK_FALSE(fs[1].restores_snapshot());
  CHECK_FALSE(fs[1].load_ws);
  CHECK(fs[1].memory == 128);
  CHECK(fs[1].concurrency_limit == 1);
  CHECK(fs[2].ring3);
  CHECK(fs[2].kernel == "guests/echo");
  CHECK(fs[2].memory == 16);
}

TEST_CASE("function config: network is off unless asked for") {
  const auto fs = parse_function_configs("fetch:\n  runtimefs: r\n  network: true\nplain:\n  runtimefs: r\n", "fn.yaml");
  REQUIRE(fs.size() == 2);
  CHECK(fs[0].network);
  CHECK_FALSE(fs[1].network);
  CHECK(error_of([] { (void)parse_function_configs("f:\n  runtimefs: r\n  network: yes-please\n", "fn.yaml"); })
            .find("fn.yaml:3: field 'network' must be a boolean") != std::string::npos);
}

TEST_CASE("function config: list form and comma-separated diff_dirs") {
  const auto fs = parse_function_configs(
      "- name: a\n  runtimefs: r\n  load_dir: base\n  diff_dirs: x,y\n- name: b\n  runtimefs: r\n", "fn.yaml");
  REQUIRE(fs.size() == 2);
  CHECK(fs[0].diff_dirs == std::vector<std::string>{"x", "y"});
  CHECK(fs[1].name == "b");
}

TEST_CASE("function config: errors name file and line") {
  CHECK(error_of([] { (void)parse_function_configs("f:\n  runtimefs: r\n  memory: lots\n", "fn.yaml"); })
            .find("fn.yaml:3: field 'memory' must be a positive integer") != std::string::npos);
  CHECK(error_of([] { (void)parse_function_configs("f:\n  runtimefs: r\n  vcpus: 0\n", "fn.yaml"); })
            .find("fn.yaml:3: field 'vcpus'") != std::string::npos);
  CHECK(error_of([] { (void)parse_function_configs("f:\n  runtimefs: r\n  copy_base: maybe\n", "fn.yaml"); })
            .find("fn.yaml:3: field 'copy_base' must be a boolean") != std::string::npos);
  CHECK(error_of([] { (void)parse_function_configs("f:\n  appfs: a\n", "fn.yaml"); })
            .find("missing field 'runtimefs'") != std::string::npos);
  CHECK(error_of([] { (void)parse_function_configs("f:\n  runtimefs: r\n  diff_dirs: [x]\n", "fn.yaml"); })
            .find("diff_dirs without load_dir") != std::string::npos);
  CHECK(error_of([] { (void)parse_function_configs("- name: a\n  runtimefs: r\n- name: a\n  runtimefs: r\n", "fn.yaml"); })
            .find("duplicate function 'a'") != std::string::npos);
  CHECK(error_of([] { (void)parse_function_configs("f: {runtimefs: r\n", "fn.yaml"); }).find("malformed YAML") !=
        std::string::npos);
  CHECK(error_of([] { (void)parse_function_configs("just a string", "fn.yaml"); }).find("fn.yaml") == 0);
}

TEST_CASE("load_controller_config: missing file names the path") {
  CHECK(error_of([] { (void)load_controller_config("/nonexistent/ctl.yaml"); }).find("/nonexistent/ctl.yaml") !=
        std::string::npos);
}

TEST_CASE("the example configs in configs/ parse") {
  const auto c = load_controller_config(SNAPFAAS_SOURCE_DIR "/configs/controller.yaml");
  CHECK(c.function_config == SNAPFAAS_SOURCE_DIR "/configs/functions.yaml");
  const auto fs = load_function_configs(c.function_config);
  CHECK(fs.size() == 5);
  const auto r = load_controller_config(SNAPFAAS_SOURCE_DIR "/configs/ring3-controller.yaml");
  const auto echo = load_function_configs(r.function_config);
  REQUIRE(echo.size() == 2);
  CHECK(echo[0].ring3);
}
