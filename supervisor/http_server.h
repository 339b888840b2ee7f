// HttpServer: service mode's HTTP/1.1 front end, Boost.Beast over Boost.Asio on its own thread(s):
// keep-alive connections and asynchronous I/O (thousands of open connections cost memory, never a
// thread or the event loop's time), limits (connection cap, header and body size, idle, request
// and write timeouts), the routes of http_api.h and metrics.h, and an access log line per request
// (spdlog, optionally a rotating file). POST /invoke/NAME goes to the event loop through an
// HttpSource; its answer comes back on the connection's strand. A client that went away only
// loses its answer.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ipc/stats_block.h"
#include "supervisor/config.h"
#include "supervisor/http_source.h"
#include "supervisor/metrics.h"

namespace snapfaas::supervisor {

struct HttpOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 8080;  ///< 0: any free port (see HttpServer::port())
  unsigned threads = 1;
  std::size_t max_connections = 16384;   ///< past it a new connection gets 503 and is closed
  std::uint32_t header_limit = 8 * 1024;  ///< request line + headers, bytes: past it 431
  std::uint64_t body_limit = 64 * 1024;   ///< request body, bytes: past it 413 (a channel slot)
  std::chrono::milliseconds idle_timeout{60'000};     ///< keep-alive: waiting for a request's first byte
  std::chrono::milliseconds request_timeout{10'000};  ///< first byte to whole request (slow clients)
  std::chrono::milliseconds write_timeout{10'000};    ///< writing one response
  std::chrono::microseconds spin{50};      ///< an HTTP thread polls this long before it blocks
  std::string access_log = "-";            ///< file, "-" for stderr, "" for none
  std::size_t access_log_max_bytes = 0;    ///< rotate the file past this size (0: never)
  std::size_t access_log_files = 5;        ///< rotated files kept
};

/// Sets options.address and options.port from "ADDRESS:PORT" ("[v6]:PORT" too); common::Error
/// naming the flag otherwise.
void parse_listen_address(std::string_view text, HttpOptions& options);

class HttpServer {
 public:
  /// `source` and `stats` must outlive the server; `functions` are the configured ones (/functions).
  HttpServer(HttpOptions options, HttpSource& source, std::vector<FunctionConfig> functions,
             const ipc::StatsReader& stats);
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  /// drain(0) when still running.
  ~HttpServer();

  /// Binds and listens (common::Error "listen ADDR:PORT: reason"), opens the access log, starts
  /// the threads (with every signal blocked: signals go to the event loop's thread).
  void start();
  /// The bound port (after start()).
  [[nodiscard]] std::uint16_t port() const noexcept;
  /// Closes the listening socket; responses from now on say Connection: close. Any thread.
  void stop_accepting() noexcept;
  /// After the event loop ended: closes idle connections, lets answers in flight be written for
  /// up to `grace` (cut short when `abort` becomes true), then closes the rest and joins the threads.
  void drain(std::chrono::milliseconds grace, const std::atomic<bool>* abort = nullptr) noexcept;
  [[nodiscard]] HttpCounters counters() const noexcept;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace snapfaas::supervisor
