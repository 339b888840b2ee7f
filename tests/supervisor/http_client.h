// A small HTTP/1.1 test client for the service-mode tests (Beast over blocking sockets with
// receive timeouts): one request on a keep-alive connection, raw bytes for bad clients, "did the
// server close it", a free port, waiting for /healthz.
#pragma once

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace http_test {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

struct Reply {
  unsigned status = 0;
  std::string body;
  http::fields headers;
  bool keep_alive = false;
  [[nodiscard]] std::string header(const char* name) const { return std::string(headers[name]); }
};

/// A port nobody listens on right now (bound, read, closed).
inline std::uint16_t free_port() {
  net::io_context ioc;
  tcp::acceptor a(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

class Connection {
 public:
  explicit Connection(std::uint16_t port, std::chrono::seconds timeout = std::chrono::seconds(60)) : socket_(ioc_) {
    socket_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    timeval tv{static_cast<time_t>(timeout.count()), 0};
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }

  /// Writes one request and reads its response; nullopt when the connection closed or broke.
  std::optional<Reply> request(http::verb verb, const std::string& target, std::string body = {},
                               std::vector<std::pair<std::string, std::string>> headers = {}) {
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "127.0.0.1");
    for (auto& [k, v] : headers) req.set(k, v);
    req.body() = std::move(body);
    req.prepare_payload();
    beast::error_code ec;
    http::write(socket_, req, ec);
    if (ec) return std::nullopt;
    return read_reply();
  }
  std::optional<Reply> post(const std::string& target, std::string body,
                            std::vector<std::pair<std::string, std::string>> headers = {}) {
    return request(http::verb::post, target, std::move(body), std::move(headers));
  }
  std::optional<Reply> get(const std::string& target) { return request(http::verb::get, target); }

  /// Raw bytes (bad clients); false when the write failed.
  bool send_raw(std::string_view bytes) {
    beast::error_code ec;
    net::write(socket_, net::buffer(bytes.data(), bytes.size()), ec);
    return !ec;
  }
  std::optional<Reply> read_reply() {
    http::response<http::string_body> res;
    beast::error_code ec;
    http::read(socket_, buffer_, res, ec);
    if (ec) return std::nullopt;
    Reply r;
    r.status = res.result_int();
    r.keep_alive = res.keep_alive();
    r.body = res.body();
    for (const auto& f : res) r.headers.set(f.name_string(), f.value());
    return r;
  }
  /// Waits up to `timeout` for the server to close (EOF or reset); true if it did. Reads and
  /// discards whatever arrives meanwhile.
  bool closed_by_peer(std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{socket_.native_handle(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char scratch[4096];
      const ssize_t n = ::recv(socket_.native_handle(), scratch, sizeof scratch, 0);
      if (n <= 0) return true;
    }
  }
  [[nodiscard]] int fd() noexcept { return socket_.native_handle(); }
  void close() {
    beast::error_code ec;
    socket_.close(ec);
  }

 private:
  net::io_context ioc_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

/// True once GET /healthz answers on `port` (polls every 20 ms for up to `timeout`).
inline bool wait_healthy(std::uint16_t port, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    try {
      Connection c(port, std::chrono::seconds(5));
      if (auto r = c.get("/healthz"); r && r->status == 200) return true;
    } catch (const std::exception&) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace http_test
