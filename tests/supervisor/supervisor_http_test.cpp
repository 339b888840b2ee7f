// snapfaas-supervisor --listen with the real firerunner serving ring-3 echo guests: the API
// (invoke cold then warm, headers, request ids, the error types' statuses, /functions, /healthz,
// /metrics and snapfaas-stat reading the same counters), replay and HTTP in one loop. Where a
// function must take its time (504, 429, graceful drain on SIGTERM, the second SIGTERM) fake_runner
// answers {"sleep_ms": N} late.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "tests/supervisor/http_service.h"

using namespace http_test;
using nlohmann::json;

namespace {

bool numeric(const std::string& s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos; }

// The error body every failure carries: {"error": {"type", "message"}, "request_id"}.
void check_error(const std::optional<Reply>& r, unsigned status, const std::string& type) {
  REQUIRE(r);
  INFO(r->body);
  CHECK(r->status == status);
  const json body = json::parse(r->body, nullptr, false);
  REQUIRE(body.is_object());
  CHECK(body["error"]["type"] == type);
  CHECK(body["error"]["message"].is_string());
  CHECK(body["request_id"] == r->header("X-Request-Id"));
  CHECK(r->header("Content-Type") == "application/json");
}

}  // namespace

TEST_CASE("service mode: invoke cold then warm, headers, every status, /functions, /healthz, /metrics") {
  Service s;
  s.start(echo_functions({"a", "b"}), {"--mem", "64", "--runners", "2", "--deadline", "1500"});
  Connection c(s.port);

  auto r = c.post("/invoke/a", R"({"n":1})");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == R"({"n":1})");  // the function's result is the body
  CHECK(r->keep_alive);
  CHECK(r->header("X-SnapFaaS-Start") == "cold");
  CHECK(numeric(r->header("X-SnapFaaS-Runner")));
  CHECK(numeric(r->header("X-SnapFaaS-Latency-Us")));
  CHECK(r->header("Server-Timing").rfind("supervisor;dur=", 0) == 0);
  const std::string generated = r->header("X-Request-Id");
  CHECK(!generated.empty());
  const std::string runner = r->header("X-SnapFaaS-Runner");

  r = c.post("/invoke/a", R"({"n":2})", {{"X-Request-Id", "client-id-42"}});  // same connection: keep-alive
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->header("X-SnapFaaS-Start") == "warm");
  CHECK(r->header("X-SnapFaaS-Runner") == runner);
  CHECK(r->header("X-Request-Id") == "client-id-42");
  r = c.post("/invoke/a", "{}", {{"X-Request-Id", "not valid"}});  // not visible ASCII: replaced
  REQUIRE(r);
  CHECK(r->header("X-Request-Id") != "not valid");
  CHECK(r->header("X-Request-Id") != generated);

  check_error(c.post("/invoke/nope", "{}"), 404, "unknown_function");
  check_error(c.get("/nothing/here"), 404, "not_found");
  r = c.get("/invoke/a");
  check_error(r, 405, "method_not_allowed");
  CHECK(r->header("Allow") == "POST");
  r = c.post("/invoke/a", R"({"hostile":1})");  // the guest corrupts its ring: 502, the VM discarded
  check_error(r, 502, "bad_response");
  CHECK(r->header("X-SnapFaaS-Start") != "");
  r = c.post("/invoke/b", R"({"b":1})");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->header("X-SnapFaaS-Start") == "cold");
  r = c.post("/invoke/a", R"({"after":1})");  // still served
  REQUIRE(r);
  CHECK(r->status == 200);
  r = c.post("/invoke/a", std::string(70'000, 'x'));  // more than a channel slot (64 KiB)
  check_error(r, 413, "request_too_large");
  CHECK_FALSE(r->keep_alive);
  CHECK(c.closed_by_peer(std::chrono::seconds(10)));

  Connection q(s.port);
  r = q.get("/functions");
  REQUIRE(r);
  CHECK(r->status == 200);
  const json fns = json::parse(r->body);
  REQUIRE(fns.size() == 2);
  CHECK(fns[0]["name"] == "a");
  CHECK(fns[0]["kind"] == "ring3");
  CHECK(fns[0]["memory_mib"] == 16);
  CHECK(fns[0]["concurrency_limit"] == 2);
  CHECK(fns[0]["requests"] == 5);  // 4 ok + the hostile one
  CHECK(fns[0]["warm_vms"].get<int>() >= 1);
  CHECK(fns[0]["in_flight"] == 0);
  CHECK(fns[1]["name"] == "b");
  CHECK(fns[1]["warm_vms"] == 1);
  r = q.get("/healthz");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(json::parse(r->body)["status"] == "ok");

  const std::string m = s.metrics();
  INFO(m.substr(0, 3000));
  CHECK(metric(m, R"(snapfaas_requests_total{function="a",outcome="ok"})") == 4);
  CHECK(metric(m, R"(snapfaas_requests_total{function="a",outcome="bad_response"})") == 1);
  CHECK(metric(m, R"(snapfaas_requests_total{function="b",outcome="ok"})") == 1);
  CHECK(metric(m, R"(snapfaas_unattributed_requests_total{outcome="unknown_function"})") == 1);
  CHECK(metric(m, R"(snapfaas_request_starts_total{function="a",start="cold"})") >= 1);
  CHECK(metric(m, R"(snapfaas_request_starts_total{function="a",start="warm"})") >= 2);
  // KVM's counts of the ring-3 guests' cold starts (a boot: a few pages touched, each an exit).
  CHECK(metric(m, R"(snapfaas_cold_starts_counted_total{function="b"})") == 1);
  CHECK(metric(m, R"(snapfaas_cold_start_page_faults_total{function="b"})") >= 1);
  CHECK(metric(m, R"(snapfaas_cold_start_exits_total{function="b"})") >=
        metric(m, R"(snapfaas_cold_start_page_faults_total{function="b"})"));
  CHECK(metric(m, R"(snapfaas_request_duration_seconds_count{function="a"})") == 5);
  CHECK(metric(m, R"(snapfaas_request_duration_seconds_bucket{function="a",le="+Inf"})") == 5);
  CHECK(m.find("# TYPE snapfaas_request_duration_seconds histogram") != std::string::npos);
  CHECK(metric(m, R"(snapfaas_function_in_flight{function="a"})") == 0);
  CHECK(metric(m, R"(snapfaas_vms{function="a",state="warm"})") >= 1);
  CHECK(metric(m, R"(snapfaas_runners{state="idle"})") >= 1);
  CHECK(metric(m, "snapfaas_queue_depth") == 0);
  CHECK(metric(m, "snapfaas_requests_in_flight") == 0);
  CHECK(metric(m, "snapfaas_boots_total") >= 2);  // ring-3 functions without a snapshot boot
  CHECK(metric(m, "snapfaas_restores_total") == 0);
  CHECK(metric(m, "snapfaas_evictions_total") == 0);
  CHECK(metric(m, "snapfaas_runner_failures_total") == 1);  // the hostile guest's VM
  CHECK(metric(m, "snapfaas_draining") == 0);
  CHECK(metric(m, "snapfaas_http_connections") >= 1);
  CHECK(metric(m, R"(snapfaas_http_rejected_total{reason="request_too_large"})") == 1);
  CHECK(metric(m, R"(snapfaas_http_responses_total{code="200"})") >= 6);  // 5 invocations, /functions, /healthz
  CHECK(metric(m, R"(snapfaas_http_responses_total{code="404"})") == 2);
  CHECK(metric(m, R"(snapfaas_http_responses_total{code="405"})") == 1);
  CHECK(metric(m, R"(snapfaas_http_responses_total{code="413"})") == 1);
  CHECK(metric(m, R"(snapfaas_http_responses_total{code="502"})") == 1);

  // snapfaas-stat reads the same block: the same counts.
  const std::string out = (s.env.dir / "stat.json").string();
  REQUIRE(std::system((std::string(SNAPFAAS_STAT_PATH) + " --json --name /snapfaas-" + std::to_string(s.pid) +
                       "-stats > " + out).c_str()) == 0);
  const json stat = json::parse(Service::read_file(out));
  CHECK(stat["functions"][0]["function"] == "a");
  CHECK(stat["functions"][0]["requests"] == 5);
  CHECK(stat["functions"][0]["outcomes"]["ok"] == 4);
  CHECK(stat["totals"]["runner_failures"] == 1);
  CHECK(stat["functions"][1]["cold_counted"] == 1);  // KVM's counts, as /metrics has them
  CHECK(stat["functions"][1]["cold_page_faults_mean"].get<double>() ==
        metric(m, R"(snapfaas_cold_start_page_faults_total{function="b"})"));
  // Its text view: the cold-start table has a row for b, whose phases are not timed (the ring-3
  // echo guest reports no handler time) but whose page faults are counted.
  const std::string text = (s.env.dir / "stat.txt").string();
  REQUIRE(std::system((std::string(SNAPFAAS_STAT_PATH) + " --count 1 --name /snapfaas-" + std::to_string(s.pid) +
                       "-stats > " + text).c_str()) == 0);
  const std::string view = Service::read_file(text);
  INFO(view);
  const std::size_t table = view.find("PAGE_FAULTS");
  REQUIRE(table != std::string::npos);
  const std::size_t row = view.find("\nb ", table);
  REQUIRE(row != std::string::npos);
  CHECK(view.substr(row, view.find('\n', row + 1) - row).find(" - ") != std::string::npos);

  Run run = s.stop();
  INFO(run.stderr_text.substr(0, 4000));
  CHECK(run.exit_code == 0);
  CHECK(run.results.empty());  // HTTP requests are answered over HTTP, not as result lines
  CHECK(run.stats["requests"] == 7);  // a: 5, b: 1, nope: 1 (the 413 never reached the loop)
  CHECK(run.stats["completed"] == 5);
  CHECK(shm_leftovers(run.pid).empty());
  const std::string log = s.access_log();  // one line per request
  CHECK(log.find("\"POST /invoke/a HTTP/1.1\" 200") != std::string::npos);
  CHECK(log.find("rid=client-id-42 fn=a start=warm") != std::string::npos);
  CHECK(log.find("\"POST /invoke/a HTTP/1.1\" 502") != std::string::npos);
  CHECK(log.find("\"GET /metrics HTTP/1.1\" 200") != std::string::npos);
}

TEST_CASE("slow functions (fake runner): 504 past the deadline, 429 no_capacity with Retry-After on a full queue") {
  Service s;
  s.start(fake_functions({"slow"}, 1), {"--mem", "16", "--runners", "1", "--queue", "0", "--deadline", "1000"}, false,
          SNAPFAAS_FAKE_RUNNER_PATH);
  Connection busy(s.port);
  REQUIRE(busy.send_raw("POST /invoke/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n{\"sleep_ms\":5000}"));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the only VM holds it until its deadline
  Connection c(s.port);
  auto r = c.post("/invoke/slow", "{}");
  check_error(r, 429, "no_capacity");
  CHECK(r->header("Retry-After") == "1");
  r = busy.read_reply();
  check_error(r, 504, "timeout");
  CHECK(r->header("X-SnapFaaS-Start") == "cold");
  int refused = 1;
  for (int attempt = 0; attempt < 100; ++attempt) {  // room again once the replacement runner is up
    r = c.post("/invoke/slow", R"({"n":3})");
    REQUIRE(r);
    if (r->status != 429) break;
    ++refused;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(r->status == 200);
  CHECK(r->header("X-SnapFaaS-Start") == "cold");  // a fresh VM
  const std::string m = s.metrics();
  CHECK(metric(m, R"(snapfaas_requests_total{function="slow",outcome="no_capacity"})") == refused);
  CHECK(metric(m, R"(snapfaas_requests_total{function="slow",outcome="timeout"})") == 1);
  CHECK(metric(m, R"(snapfaas_requests_total{function="slow",outcome="ok"})") == 1);
  CHECK(s.stop().exit_code == 0);
}

TEST_CASE("service mode with --requests_file: replay and HTTP share one loop; it serves on after the replay") {
  Service s;
  std::vector<json> lines;
  for (int i = 0; i < 300; ++i) lines.push_back({{"time", i * 3}, {"function", i % 2 == 0 ? "a" : "b"}, {"payload", {{"n", i}}}});
  s.env.write_workload(lines);
  s.start(echo_functions({"a", "b"}), {"--mem", "64", "--runners", "4", "--queue", "1000"}, true);
  Connection c(s.port);
  int http_ok = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);  // past the replay's 900 ms
  for (int i = 0; std::chrono::steady_clock::now() < until; ++i) {
    auto r = c.post(i % 2 == 0 ? "/invoke/b" : "/invoke/a", json{{"http", i}}.dump());
    REQUIRE(r);
    REQUIRE(r->status == 200);
    CHECK(json::parse(r->body)["http"] == i);
    ++http_ok;
  }
  CHECK(http_ok > 10);
  Run run = s.stop();
  INFO(run.stderr_text.substr(0, 4000));
  CHECK(run.exit_code == 0);
  REQUIRE(run.results.size() == 300);  // the replayed requests, as result lines
  std::vector<bool> seen(300, false);
  for (auto& r : run.results) {
    CHECK(r["status"] == "ok");
    const int n = r["response"].value("n", -1);
    REQUIRE(n >= 0);
    REQUIRE(n < 300);
    seen[static_cast<std::size_t>(n)] = true;
  }
  CHECK(std::count(seen.begin(), seen.end(), true) == 300);
  CHECK(run.stats["completed"] == 300 + http_ok);
  CHECK(run.stats["cold"].get<int>() <= 4);  // one scheduler, one pool of VMs for both sources
}

TEST_CASE("SIGTERM drains: no new connections, 503 on open ones, answers in flight, stats written, nothing left") {
  Service s;
  s.start(fake_functions({"a"}), {"--mem", "32", "--runners", "2", "--deadline", "10000"}, false,
          SNAPFAAS_FAKE_RUNNER_PATH);
  Connection idle(s.port), idle2(s.port);
  REQUIRE(idle.post("/invoke/a", "{}"));
  REQUIRE(idle2.post("/invoke/a", "{}"));
  Connection busy(s.port);
  REQUIRE(busy.send_raw("POST /invoke/a HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n{\"sleep_ms\":1500}"));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::vector<pid_t> runners;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::ifstream stat(e.path() / "stat");
    std::string comm, state;
    int self = 0, ppid = 0;
    if (stat >> self >> comm >> state >> ppid && ppid == s.pid) runners.push_back(self);
  }
  CHECK(runners.size() == 2);
  const auto t0 = std::chrono::steady_clock::now();
  ::kill(s.pid, SIGTERM);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK_THROWS(Connection(s.port));  // the listening socket is closed
  auto r = idle.get("/healthz");
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK(json::parse(r->body)["status"] == "draining");
  r = idle2.post("/invoke/a", "{}");
  check_error(r, 503, "shutdown");
  CHECK(r->header("Retry-After") == "1");
  CHECK_FALSE(r->keep_alive);
  r = busy.read_reply();  // the request in flight is still answered
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(nlohmann::json::parse(r->body)["result"]["sleep_ms"] == 1500);
  Run run = s.env.finish(s.pid);
  INFO(run.stderr_text.substr(0, 4000));
  CHECK(run.exit_code == 0);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(15));
  CHECK(run.stats["interrupted"] == true);
  CHECK(run.stats["requests"] == 3);  // the 503 during the drain never reached the loop
  CHECK(shm_leftovers(run.pid).empty());
  for (pid_t child : runners) CHECK(::kill(child, 0) != 0);
}

TEST_CASE("a second SIGTERM exits at once, still removing runners and shm objects") {
  Service s;
  s.start(fake_functions({"a"}), {"--mem", "32", "--runners", "2", "--deadline", "60000", "--drain_timeout", "60000"},
          false, SNAPFAAS_FAKE_RUNNER_PATH);
  Connection busy(s.port);
  REQUIRE(busy.send_raw("POST /invoke/a HTTP/1.1\r\nHost: x\r\nContent-Length: 18\r\n\r\n{\"sleep_ms\":60000}"));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ::kill(s.pid, SIGTERM);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto t0 = std::chrono::steady_clock::now();
  ::kill(s.pid, SIGTERM);
  Run run = s.env.finish(s.pid);
  INFO(run.stderr_text.substr(0, 4000));
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));  // not the 60 s deadline
  CHECK(run.exit_code == 0);
  CHECK(run.stderr_text.find("second signal") != std::string::npos);
  CHECK(shm_leftovers(run.pid).empty());
}

TEST_CASE("a supervisor killed with SIGKILL takes its runners with it (no orphan VMs left running)") {
  // The test adopts orphans (child subreaper) so that it can reap the runners and see how they died.
  REQUIRE(::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0);
  Service s;
  s.start(echo_functions({"a"}), {"--mem", "32", "--runners", "2"});
  std::vector<pid_t> runners;
  for (int i = 0; i < 200 && runners.size() < 2; ++i) {
    runners = supervisor_test::children_of(s.pid);  // its runners: it starts no other process
    if (runners.size() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  REQUIRE(runners.size() == 2);
  REQUIRE(::kill(s.pid, SIGKILL) == 0);
  int status = 0;
  REQUIRE(::waitpid(s.pid, &status, 0) == s.pid);
  int reaped = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (const pid_t r : runners) {
    int runner_status = 0;
    pid_t got = 0;
    while ((got = ::waitpid(r, &runner_status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (got == r) {
      ++reaped;
      CHECK(WIFSIGNALED(runner_status));
      if (WIFSIGNALED(runner_status)) CHECK(WTERMSIG(runner_status) == SIGKILL);
    } else {
      ::kill(r, SIGKILL);  // left running: fail, and do not leak it into the other tests
      (void)::waitpid(r, &runner_status, 0);
    }
  }
  CHECK(reaped == 2);
  for (const std::string& left : shm_leftovers(s.pid)) std::filesystem::remove(left);  // nobody removed them
  REQUIRE(::prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) == 0);
}
