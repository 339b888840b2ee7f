// fc_wrapper end to end without a VM: fake_firerunner stands in for firerunner (same flags, serves
// the channel like runner + agent would). Checks stdout/stderr separation, ordering, exit codes.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace {

struct Run {
  int status = -1;
  std::string out;
  std::string err;
};

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Runs fc_wrapper with `args` and `input` on stdin; `env` entries are added to the environment.
Run run_wrapper(std::vector<std::string> args, const std::string& input, const std::vector<std::string>& env = {}) {
  char tmpl[] = "/tmp/snapfaas-fcw-test-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  const std::filesystem::path dir = tmpl;
  std::ofstream(dir / "in") << input;
  args.insert(args.begin(), SNAPFAAS_FC_WRAPPER_PATH);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> envs = env;
  for (char** e = environ; *e != nullptr; ++e) envs.emplace_back(*e);
  std::vector<char*> envp;
  for (auto& e : envs) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, (dir / "in").c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, (dir / "out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, (dir / "err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  REQUIRE(::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data()) == 0);
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  Run run{WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), slurp(dir / "out"), slurp(dir / "err")};
  std::filesystem::remove_all(dir);
  return run;
}

std::vector<std::string> base_args() {
  return {"--kernel", SNAPFAAS_FC_WRAPPER_PATH,  // any existing file: the fake does not boot it
          "--firerunner", SNAPFAAS_FAKE_FIRERUNNER_PATH, "--id", "t", "--timeout_ms", "10000"};
}

}  // namespace

TEST_CASE("fc_wrapper: 150 lines in, one response per line out, in order; exits 0 after shutdown") {
  std::string input;
  for (int i = 0; i < 150; ++i) {
    if (i == 40) {
      input += "{broken\n";
      continue;
    }
    input += R"({"time": )" + std::to_string(i) + R"(, "user_id": 2, "function": "echo", "payload": {"i": )" +
             std::to_string(i) + "}}\n";
  }
  const Run run = run_wrapper(base_args(), input);
  CHECK(run.status == 0);
  std::istringstream out(run.out);
  std::string line;
  int n = 0;
  while (std::getline(out, line)) {
    const auto j = nlohmann::json::parse(line);
    if (n == 40) {
      CHECK(j["error"]["type"] == "bad_request");
    } else {
      CHECK(j["ok"] == true);
      CHECK(j["result"]["i"] == n);
    }
    ++n;
  }
  CHECK(n == 150);
  CHECK(run.out.find("console line") == std::string::npos);  // the runner's console goes to stderr
  CHECK(run.err.find("console line") != std::string::npos);
  CHECK(run.err.find("fc_wrapper: vm_creation_ms=") != std::string::npos);
  CHECK(run.err.find("fc_wrapper: boot_to_first_wait_ms=") != std::string::npos);
  CHECK(run.err.find("fc_wrapper: request 149 rtt_us=") != std::string::npos);
}

TEST_CASE("fc_wrapper: prints the load's KVM counts once the runner published them, a little late or not at all") {
  const std::string one = R"({"time": 1, "user_id": 2, "function": "echo", "payload": {}})" "\n";
  const std::string counts = "fc_wrapper: load_to_first_response_page_faults=1234 load_to_first_response_exits=5678";
  SUBCASE("published 50 ms after the response was taken") {
    const Run run = run_wrapper(base_args(), one, {"FAKE_FIRERUNNER_COUNTS_MS=50"});
    CHECK(run.status == 0);
    CHECK(run.err.find(counts) != std::string::npos);
  }
  SUBCASE("never published (no KVM statistics): no line, still a clean exit") {
    const Run run = run_wrapper(base_args(), one);
    CHECK(run.status == 0);
    CHECK(run.err.find("load_to_first_response") == std::string::npos);
    CHECK(run.err.find("fc_wrapper: 1 requests answered") != std::string::npos);
  }
}

TEST_CASE("fc_wrapper: a runner that dies or fails is a clear error, non-zero exit") {
  Run run = run_wrapper(base_args(), "{\"payload\": 1}\n", {"FAKE_FIRERUNNER=die"});
  CHECK(run.status == 1);
  CHECK(run.err.find("VM creation: firerunner exited with status 3") != std::string::npos);
  run = run_wrapper(base_args(), "{\"payload\": 1}\n", {"FAKE_FIRERUNNER=fail"});
  CHECK(run.status == 1);
  CHECK(run.out == "{\"ok\":true,\"result\":1,\"duration_ns\":1}\n");
  CHECK(run.err.find("firerunner exited with status 4") != std::string::npos);
}

TEST_CASE("fc_wrapper: unknown flag and missing image are clear errors") {
  std::vector<std::string> args = base_args();
  args.push_back("--bogus");
  Run run = run_wrapper(args, "");
  CHECK(run.status != 0);
  CHECK(run.err.find("--bogus") != std::string::npos);

  args = base_args();
  args.insert(args.end(), {"--rootfs", "/nonexistent/rootfs.ext4"});
  run = run_wrapper(args, "");
  CHECK(run.status != 0);
  CHECK(run.err.find("/nonexistent/rootfs.ext4") != std::string::npos);
  CHECK(run.out.empty());
}
