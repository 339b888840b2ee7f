// Bad clients cannot hurt snapfaas-supervisor --listen (real firerunner, ring-3 echo guests):
// malformed requests, oversized heads and bodies, slow clients (slowloris) and idle ones, the
// connection cap, clients that disconnect mid-request (their answers are dropped, the VMs stay
// good, nothing leaks; fake_runner's {"sleep_ms"} holds one request in its VM for the exact case),
// and 10 000 connections opened at once.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <sys/resource.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/supervisor/http_service.h"

using namespace http_test;

namespace {

using Clock = std::chrono::steady_clock;

std::optional<Reply> raw_exchange(std::uint16_t port, const std::string& bytes) {
  Connection c(port);
  if (!c.send_raw(bytes)) return std::nullopt;
  return c.read_reply();
}

// Polls `value` until it equals `want` or 20 s pass (a loaded machine handles a client's FIN
// late); returns the last value for the CHECK to show.
template <typename T, typename F>
T settle(F value, T want) {
  T v = value();
  for (const auto until = Clock::now() + std::chrono::seconds(20); v != want && Clock::now() < until; v = value()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return v;
}

}  // namespace

TEST_CASE("malformed requests get 400, oversized heads 431, oversized bodies 413; the service goes on") {
  Service s;
  s.start(echo_functions({"a"}), {"--mem", "32", "--runners", "2"});
  auto r = raw_exchange(s.port, "GARBAGE\r\n\r\n");
  REQUIRE(r);
  CHECK(r->status == 400);
  CHECK(nlohmann::json::parse(r->body)["error"]["type"] == "bad_request");
  CHECK_FALSE(r->keep_alive);
  r = raw_exchange(s.port, "POST /invoke/a HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n");
  REQUIRE(r);
  CHECK(r->status == 400);
  r = raw_exchange(s.port, "POST /invoke/a HTTP/1.1\r\nHost: x\r\nX-Filler: " + std::string(9000, 'f') + "\r\n\r\n");
  REQUIRE(r);
  CHECK(r->status == 431);
  {
    // Content-Length past the limit: refused from the head alone, before any body byte is sent.
    Connection c(s.port);
    REQUIRE(c.send_raw("POST /invoke/a HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n"));
    r = c.read_reply();
    REQUIRE(r);
    CHECK(r->status == 413);
    CHECK(c.closed_by_peer(std::chrono::seconds(10)));
  }
  std::string chunked = "POST /invoke/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 20; ++i) chunked += "1000\r\n" + std::string(0x1000, 'c') + "\r\n";  // 80 KiB in chunks
  chunked += "0\r\n\r\n";
  r = raw_exchange(s.port, chunked);
  REQUIRE(r);
  CHECK(r->status == 413);
  Connection ok(s.port);
  r = ok.post("/invoke/a", R"({"fine":true})");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == R"({"fine":true})");
  const std::string m = s.metrics();
  CHECK(metric(m, R"(snapfaas_http_rejected_total{reason="bad_request"})") == 2);
  CHECK(metric(m, R"(snapfaas_http_rejected_total{reason="header_too_large"})") == 1);
  CHECK(metric(m, R"(snapfaas_http_rejected_total{reason="request_too_large"})") == 2);
  CHECK(metric(m, R"(snapfaas_requests_total{function="a",outcome="ok"})") == 1);  // nothing else reached a VM
  CHECK(s.stop().exit_code == 0);
}

TEST_CASE("slow and idle clients are timed out; the others are served meanwhile") {
  Service s;
  s.start(echo_functions({"a"}), {"--mem", "32", "--runners", "2", "--http_request_timeout", "1000",
                                  "--http_idle_timeout", "1500"});
  // Slowloris: a head that never ends, one header line every 200 ms.
  Connection slow(s.port);
  Connection idle(s.port);
  const auto t0 = Clock::now();
  REQUIRE(slow.send_raw("POST /invoke/a HTTP/1.1\r\nHost: x\r\n"));
  bool closed = false;
  for (int i = 0; i < 50 && !closed; ++i) {
    closed = !slow.send_raw("X-Slow: " + std::to_string(i) + "\r\n") || slow.closed_by_peer(std::chrono::milliseconds(200));
    if (i == 2) {  // meanwhile another client is served at once
      Connection other(s.port);
      auto r = other.post("/invoke/a", "{}");
      REQUIRE(r);
      CHECK(r->status == 200);
    }
  }
  const auto slow_for = Clock::now() - t0;
  CHECK(closed);
  CHECK(slow_for >= std::chrono::milliseconds(900));
  CHECK(slow_for < std::chrono::seconds(8));
  // The idle keep-alive connection (no byte ever sent) goes after the idle timeout.
  CHECK(idle.closed_by_peer(std::chrono::seconds(8)));
  CHECK(Clock::now() - t0 >= std::chrono::milliseconds(1400));
  CHECK(metric(s.metrics(), R"(snapfaas_http_rejected_total{reason="timeout"})") == 1);
  CHECK(s.stop().exit_code == 0);
}

TEST_CASE("the connection cap: the connection past it gets 503 and is closed; room again once others close") {
  Service s;
  s.start(echo_functions({"a"}), {"--mem", "32", "--runners", "2", "--http_max_connections", "20"});
  std::vector<std::unique_ptr<Connection>> open;
  for (int i = 0; i < 20; ++i) {
    open.push_back(std::make_unique<Connection>(s.port));
    auto r = open.back()->post("/invoke/a", "{}");  // answered: it is counted as open
    REQUIRE(r);
    REQUIRE(r->status == 200);
  }
  {
    Connection over(s.port);
    auto r = over.read_reply();  // refused at once, before it sends anything
    REQUIRE(r);
    CHECK(r->status == 503);
    CHECK(r->header("Retry-After") == "1");
    CHECK(nlohmann::json::parse(r->body)["error"]["type"] == "no_capacity");
    CHECK(over.closed_by_peer(std::chrono::seconds(5)));
  }
  open.resize(15);  // five clients leave
  bool served = false;
  for (int attempt = 0; attempt < 100 && !served; ++attempt) {
    Connection again(s.port);
    auto r = again.post("/invoke/a", "{}");
    served = r && r->status == 200;
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(served);
  open.clear();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(metric(s.metrics(), R"(snapfaas_http_rejected_total{reason="connection_cap"})") >= 1);
  CHECK(s.stop().exit_code == 0);
}

TEST_CASE("a client that disconnects mid-request (fake runner): its answer is dropped, the VM stays good, nothing leaks") {
  Service s;
  s.start(fake_functions({"a"}, 1), {"--mem", "16", "--runners", "1"}, false, SNAPFAAS_FAKE_RUNNER_PATH);
  std::string runner;
  {
    Connection warm(s.port);
    auto r = warm.post("/invoke/a", "{}");
    REQUIRE(r);
    runner = r->header("X-SnapFaaS-Runner");
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const std::size_t fds = s.open_fds();
  {
    Connection gone(s.port);
    REQUIRE(gone.send_raw("POST /invoke/a HTTP/1.1\r\nHost: x\r\nContent-Length: 16\r\n\r\n{\"sleep_ms\":800}"));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // in the VM now; the client leaves
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // the VM answers to nobody
  Connection next(s.port);
  auto r = next.post("/invoke/a", R"({"n":8})");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->header("X-SnapFaaS-Start") == "warm");  // the same VM, still good
  CHECK(r->header("X-SnapFaaS-Runner") == runner);
  next.close();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const std::string m = s.metrics();
  CHECK(metric(m, R"(snapfaas_requests_total{function="a",outcome="ok"})") == 3);  // warm-up, the dropped one, n=8
  CHECK(metric(m, "snapfaas_runner_failures_total") == 0);
  CHECK(settle([&] { return metric(s.metrics(), "snapfaas_http_connections"); }, 1.0) == 1);  // a /metrics request's own
  CHECK(settle([&] { return s.open_fds(); }, fds) == fds);  // every departed connection's descriptor is closed
  CHECK(s.stop().exit_code == 0);
}

TEST_CASE("500 clients that leave right after sending (ring-3 echo): answers dropped, no VM harmed, nothing leaks") {
  Service s;
  s.start(echo_functions({"a"}, 2), {"--mem", "32", "--runners", "2", "--queue", "1000"});
  {
    Connection warm(s.port);
    REQUIRE(warm.post("/invoke/a", "{}"));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const std::size_t fds = s.open_fds();
  for (int i = 0; i < 500; ++i) {
    Connection gone(s.port);
    const std::string body = "{\"i\":" + std::to_string(i) + "}";
    REQUIRE(gone.send_raw("POST /invoke/a HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
                          "\r\n\r\n" + body));
  }  // each closes at once, before (or while) its answer is written
  double answered = 0;
  for (int attempt = 0; attempt < 400 && answered < 501; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    answered = metric(s.metrics(), R"(snapfaas_requests_total{function="a",outcome="ok"})");
  }
  CHECK(answered == 501);  // every one ran (a departed client does not cancel its request)
  Connection next(s.port);
  auto r = next.post("/invoke/a", R"({"n":1})");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->header("X-SnapFaaS-Start") == "warm");
  next.close();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const std::string m = s.metrics();
  CHECK(metric(m, "snapfaas_runner_failures_total") == 0);
  CHECK(metric(m, R"(snapfaas_request_starts_total{function="a",start="cold"})") <= 2);
  CHECK(settle([&] { return metric(s.metrics(), "snapfaas_http_connections"); }, 1.0) == 1);  // a /metrics request's own
  CHECK(settle([&] { return s.open_fds(); }, fds) == fds);
  CHECK(s.stop().exit_code == 0);
}

TEST_CASE("10 000 connections opened at once against a running supervisor: all held open, all answered") {
  constexpr int kConnections = 10'000;
  rlimit limit{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &limit) == 0);
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &limit) == 0);
  }
  REQUIRE(limit.rlim_cur >= kConnections + 100);  // the hard limit must allow it (root may raise it further)
  Service s;
  s.start(echo_functions({"a"}, 4), {"--mem", "64", "--runners", "4", "--queue", "20000"});

  net::io_context ioc;
  const tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), s.port);
  struct Client {
    explicit Client(net::io_context& io) : socket(io) {}
    tcp::socket socket;
    beast::flat_buffer buffer;
    http::request<http::string_body> request{http::verb::post, "/invoke/a", 11};
    http::response<http::string_body> response;
  };
  std::vector<std::unique_ptr<Client>> clients;
  int connected = 0, failed = 0, answered = 0, ok = 0;
  for (int i = 0; i < kConnections; ++i) {
    clients.push_back(std::make_unique<Client>(ioc));
    Client& c = *clients.back();
    c.request.set(http::field::host, "127.0.0.1");
    c.request.body() = "{\"c\":" + std::to_string(i) + "}";
    c.request.prepare_payload();
    c.socket.async_connect(endpoint, [&](beast::error_code ec) { ++(ec ? failed : connected); });
  }
  const auto t0 = Clock::now();
  while (connected + failed < kConnections && Clock::now() - t0 < std::chrono::seconds(120)) {
    ioc.restart();  // run_for() leaves the context stopped once it ran out of work
    ioc.run_for(std::chrono::milliseconds(100));
  }
  INFO("connected " << connected << ", failed " << failed);
  REQUIRE(connected == kConnections);
  // All of them open at once on the server side.
  double open = 0;
  for (int attempt = 0; attempt < 200 && open < kConnections; ++attempt) {
    open = metric(s.metrics(), "snapfaas_http_connections");
    if (open < kConnections) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(open >= kConnections);
  for (int i = 0; i < kConnections; ++i) {
    Client& c = *clients[static_cast<std::size_t>(i)];
    http::async_write(c.socket, c.request, [&, i](beast::error_code ec, std::size_t) {
      if (ec) {
        ++answered;
        return;
      }
      Client& cc = *clients[static_cast<std::size_t>(i)];
      http::async_read(cc.socket, cc.buffer, cc.response, [&, i](beast::error_code rec, std::size_t) {
        ++answered;
        const Client& done = *clients[static_cast<std::size_t>(i)];
        if (!rec && done.response.result_int() == 200 && done.response.body() == done.request.body()) ++ok;
      });
    });
  }
  const auto t1 = Clock::now();
  while (answered < kConnections && Clock::now() - t1 < std::chrono::seconds(300)) {
    ioc.restart();
    ioc.run_for(std::chrono::milliseconds(100));
  }
  INFO("answered " << answered << ", ok " << ok);
  CHECK(ok == kConnections);
  clients.clear();
  Connection after(s.port);  // and it goes on serving
  auto r = after.post("/invoke/a", "{}");
  REQUIRE(r);
  CHECK(r->status == 200);
  Run run = s.stop();
  CHECK(run.exit_code == 0);
  CHECK(run.stats["completed"] == kConnections + 1);
}
