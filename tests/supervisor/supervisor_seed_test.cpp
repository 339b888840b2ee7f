// A SnapFaaS (seed) user's files, unchanged, replayed through snapfaas-supervisor with fake runners
// (issue 17): the fixtures of tests/supervisor/seed/ with a seed-format workload. The supervisor
// runs from a copy installed beside a `firerunner` (the fake runner), since the seed's controller
// names no runner binary: the default has to find it. Each function's snapshots, images and
// kernel reach its runner's jail at the paths the seed's layout gives (diffs under
// snapshot_dir/diff/NAME), which the fake runner probes.
#include <doctest/doctest.h>

#include <stdlib.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "supervisor_env.h"

using namespace supervisor_test;

namespace {

const std::string kSeed = SNAPFAAS_SOURCE_DIR "/tests/supervisor/seed";

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

fs::path touch(const fs::path& p) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << "x";
  return p;
}

/// The supervisor and a `firerunner` (the fake runner) side by side in DIR/bin, as installed.
void install_binaries(Env& env) {
  fs::create_directories(env.dir / "bin");
  fs::copy_file(SNAPFAAS_SUPERVISOR_PATH, env.dir / "bin/snapfaas-supervisor");
  fs::copy_file(SNAPFAAS_FAKE_RUNNER_PATH, env.dir / "bin/firerunner");
  env.supervisor = (env.dir / "bin/snapfaas-supervisor").string();
}

}  // namespace

TEST_CASE("seed: the README's controller (file://localhost URLs, runtimfs_dir, no firerunner_path) and list-form functions replay") {
  Env env;
  // The seed installs its files under /etc/snapfaas; a test may not, so only that root of the URLs
  // moves to the scratch directory. Nothing else in the files changes.
  const fs::path etc = env.dir / "etc/snapfaas";
  fs::create_directories(etc);
  const std::string root_url = "file://localhost" + etc.string() + "/";
  for (const char* name : {"example-controller-config.yaml", "example-function-configs.yaml"}) {
    std::string text = read_file(kSeed + "/etc/snapfaas/" + name);
    const std::string from = "file://localhost/etc/snapfaas/";
    for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + root_url.size())) {
      text.replace(at, from.size(), root_url);
    }
    std::ofstream(etc / name) << text;
  }
  const fs::path images = etc / "images";
  for (const char* f : {"vmlinux-4.20.0", "runtimefs/python3.ext4", "appfs/hello.ext2", "appfs/lorempy2.ext2",
                        "snapshot/python3/state", "snapshot/diff/hello/state"}) {
    touch(images / f);
  }
  install_binaries(env);
  env.controller = etc / "example-controller-config.yaml";
  const auto probe = [&](int t, const char* fn, const fs::path& p) {
    return json{{"time", t}, {"user_id", 1}, {"function", fn}, {"payload", {{"probe", p.string()}}}};
  };
  env.write_workload({probe(0, "hello", images / "snapshot/diff/hello/state"),  // the seed's diff layout
                      probe(0, "lorempy2", images / "appfs/lorempy2.ext2"),
                      probe(5, "hello", images / "snapshot/python3/state"),
                      probe(5, "hello", images / "runtimefs/python3.ext4"),     // runtimfs_dir's image
                      {{"time", 10}, {"user_id", 2}, {"function", "hello"}, {"payload", {{"n", 1}}}},
                      {{"time", 10}, {"user_id", 2}, {"function", "lorempy2"}, {"payload", {{"n", 2}}}}});
  Run run = env.run({"--mem", "256", "--runners", "2"});
  INFO(run.stderr_text);
  REQUIRE(run.exit_code == 0);
  CHECK(run.stderr_text.find("'runtimfs_dir' read as 'runtimefs_dir'") != std::string::npos);
  REQUIRE(run.results.size() == 6);
  for (auto& r : run.results) CHECK(r["status"] == "ok");
  for (int i = 0; i < 4; ++i) CHECK(run.results[i]["response"]["exists"] == true);
  // The fake runner answers plain payloads with what it was started and loaded with.
  CHECK(run.results[4]["response"]["function"] == 0);
  CHECK(run.results[4]["response"]["kernel"] == (images / "vmlinux-4.20.0").string());
  CHECK(run.results[5]["response"]["function"] == 1);
  CHECK(run.stats["restores"].get<int>() >= 1);  // hello: base + diff
  CHECK(run.stats["boots"].get<int>() >= 1);     // lorempy2: no load_dir, a regular boot
}

TEST_CASE("seed: the later controller (relative paths, ./firerunner, kernel_args, functions inline, load_dir 'base/,diff/NAME/') replays") {
  Env env;
  // The file as the seed keeps it in resources/, with the images and runner it names beside it.
  const fs::path res = env.dir / "resources";
  fs::create_directories(res);
  fs::copy_file(kSeed + "/resources/controller-snap.yaml", res / "controller-snap.yaml");
  fs::copy_file(SNAPFAAS_FAKE_RUNNER_PATH, res / "firerunner");
  const fs::path images = res / "images";
  for (const char* f : {"vmlinux-4.20.0", "runtimefs/pythonfs.ext4", "appfs/hello/output.ext2", "appfs/lorem/output.ext2",
                        "snapshot/python3/state", "snapshot/diff/hello/state", "snapshot/diff/lorem/state"}) {
    touch(images / f);
  }
  env.controller = res / "controller-snap.yaml";
  env.write_workload({{{"time", 0}, {"user_id", 1}, {"function", "hello"}, {"payload", {{"probe", (images / "snapshot/diff/hello/state").string()}}}},
                      {{"time", 0}, {"user_id", 1}, {"function", "lorem"}, {"payload", {{"probe", (images / "appfs/lorem/output.ext2").string()}}}},
                      {{"time", 5}, {"user_id", 1}, {"function", "hello"}, {"payload", {{"kernel_args", true}}}},
                      {{"time", 5}, {"user_id", 1}, {"function", "lorem"}, {"payload", {{"n", 3}}}}});
  Run run = env.run({"--mem", "256", "--runners", "2"});
  INFO(run.stderr_text);
  REQUIRE(run.exit_code == 0);
  CHECK(run.stderr_text.find("'load_ws' in function 'hello' ignored") == std::string::npos);  // honoured: prefetch at restore
  REQUIRE(run.results.size() == 4);
  for (auto& r : run.results) CHECK(r["status"] == "ok");
  CHECK(run.results[0]["response"]["exists"] == true);
  CHECK(run.results[1]["response"]["exists"] == true);
  CHECK(run.results[2]["response"]["kernel_args"] == "console=ttyS0");
  CHECK(run.results[3]["response"]["function"] == 1);
  CHECK(run.stats["restores"].get<int>() >= 2);
}

TEST_CASE("seed: no firerunner_path and no firerunner anywhere: one line naming the places, exit 1") {
  Env env;
  fs::create_directories(env.dir / "lone");
  fs::copy_file(SNAPFAAS_SUPERVISOR_PATH, env.dir / "lone/snapfaas-supervisor");
  env.supervisor = (env.dir / "lone/snapfaas-supervisor").string();
  std::ofstream(env.dir / "functions.yaml") << "- name: f\n  runtimefs: r\n";
  std::ofstream(env.dir / "controller.yaml") << "kernel_path: vmlinux\nfunction_config: functions.yaml\n";
  env.write_workload({{{"time", 0}, {"function", "f"}, {"payload", {{"n", 1}}}}});
  // The search ends on $PATH, which the supervisor inherits: an empty directory for this run, so
  // that a firerunner installed on this machine cannot be found.
  fs::create_directories(env.dir / "empty-path");
  const char* saved = std::getenv("PATH");
  const std::string saved_path = saved != nullptr ? saved : "";
  ::setenv("PATH", (env.dir / "empty-path").c_str(), 1);
  Run run = env.run({"--mem", "128"});
  ::setenv("PATH", saved_path.c_str(), 1);
  CHECK(run.exit_code == 1);
  CHECK(run.stderr_text.find("snapfaas-supervisor: no firerunner_path in the controller file") != std::string::npos);
  CHECK(run.stderr_text.find((env.dir / "lone/firerunner").string()) != std::string::npos);
  CHECK(run.stderr_text.find((env.dir / "empty-path/firerunner").string()) != std::string::npos);
  CHECK(std::count(run.stderr_text.begin(), run.stderr_text.end(), '\n') == 1);
}

TEST_CASE("seed: a malformed controller file is one line naming file and line, exit 1") {
  Env env;
  std::ofstream(env.dir / "controller.yaml") << "kernel_path: file://localhost/etc/vmlinux\nruntimfs_dir: [a,\n";
  env.write_workload({{{"time", 0}, {"function", "f"}, {"payload", {{"n", 1}}}}});
  Run run = env.run({"--mem", "128"});
  CHECK(run.exit_code == 1);
  CHECK(run.stderr_text.find("snapfaas-supervisor: " + (env.dir / "controller.yaml").string() + ":") == 0);
  CHECK(run.stderr_text.find("malformed YAML") != std::string::npos);
  CHECK(std::count(run.stderr_text.begin(), run.stderr_text.end(), '\n') == 1);
}
