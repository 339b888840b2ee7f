// HttpServer: Beast sessions, the acceptor, limits, drain (see http_server.h). One Session per
// connection (on its own strand when there are several HTTP threads); it reads one request at a
// time (head, then body), answers it, and only then reads the next (HTTP/1.1 keep-alive, pipelined
// requests answered in order). Timeouts are deadlines a session sets as it changes phase; one
// sweep timer closes the sessions past theirs (no timer operation per read or write).
#include "supervisor/http_server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <unordered_map>

#include "common/error.h"
#include "supervisor/http_api.h"

namespace snapfaas::supervisor {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

class Session;

struct HttpServer::Impl {
  Impl(HttpOptions o, HttpSource& s, std::vector<FunctionConfig> f, const ipc::StatsReader& st)
      : options(std::move(o)), source(s), functions(std::move(f)), stats(st) {}

  void serve();
  void sweep();
  void do_accept();
  void on_accept(beast::error_code ec, tcp::socket socket);
  void refuse(tcp::socket& socket) noexcept;
  [[nodiscard]] std::string new_request_id();
  [[nodiscard]] static HttpCounters counters(const Impl& s) noexcept;

  HttpOptions options;
  HttpSource& source;
  std::vector<FunctionConfig> functions;
  const ipc::StatsReader& stats;
  std::shared_ptr<spdlog::logger> access;
  std::string id_prefix;

  // Counters: relaxed atomics, read by /metrics (no ordering with anything else is needed).
  std::atomic<std::uint64_t> open{0}, accepted{0}, refused_cap{0}, bad_request{0}, header_too_large{0},
      request_too_large{0}, timed_out{0}, refused_draining{0}, next_id{0};
  std::array<std::atomic<std::uint64_t>, kHttpCodes.size()> responses{};
  std::atomic<bool> draining{false};  // release store by stop_accepting; acquire loads by sessions

  std::mutex sessions_mutex;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions;  // guarded by sessions_mutex

  // Declared last: destroyed first, with every handler (and so every Session) it still holds.
  net::io_context ioc;
  tcp::acceptor acceptor{net::make_strand(ioc)};
  net::steady_timer accept_retry{acceptor.get_executor()};
  net::steady_timer sweep_timer{acceptor.get_executor()};
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  std::uint16_t port = 0;
  bool running = false;
};

namespace {

[[nodiscard]] bool valid_request_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (c < 0x21 || c > 0x7e) return false;  // visible ASCII only: it goes into headers and logs
  }
  return true;
}

[[nodiscard]] bool is_http_error(const beast::error_code& ec) noexcept {
  return &ec.category() == &http::make_error_code(http::error::bad_target).category();
}

}  // namespace

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(HttpServer::Impl& server, tcp::socket&& socket) : server_(server), socket_(std::move(socket)) {
    beast::error_code ec;
    const auto remote = socket_.remote_endpoint(ec);
    remote_ = ec ? "-" : remote.address().to_string() + ":" + std::to_string(remote.port());
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  ~Session() {
    {
      const std::lock_guard lock(server_.sessions_mutex);
      server_.sessions.erase(this);
    }
    server_.open.fetch_sub(1, std::memory_order_relaxed);
  }

  void start() {
    {
      const std::lock_guard lock(server_.sessions_mutex);
      server_.sessions.emplace(this, weak_from_this());
    }
    net::dispatch(socket_.get_executor(), [self = shared_from_this()] { self->read_idle(); });
  }

  /// The sweep (any thread): past its deadline? Then close it on its own executor.
  void check_deadline(Clock::time_point now) {
    if (now.time_since_epoch().count() < deadline_.load(std::memory_order_relaxed)) return;
    net::post(socket_.get_executor(), [self = shared_from_this()] {
      if (Clock::now().time_since_epoch().count() < self->deadline_.load(std::memory_order_relaxed)) return;
      if (self->phase_ == Phase::kReading) self->server_.timed_out.fetch_add(1, std::memory_order_relaxed);
      self->close();  // pending operations end with operation_aborted: no answer
    });
  }

  /// Drain: a connection waiting for its next request is closed; one mid-request finishes it.
  void close_if_idle() {
    net::post(socket_.get_executor(), [self = shared_from_this()] {
      if (self->phase_ == Phase::kIdle) self->close();
    });
  }

 private:
  enum class Phase { kIdle, kReading, kInvoking, kWriting, kClosed };

  // Written on this session's executor (relaxed: the sweep only compares it, then re-checks here).
  void set_deadline(std::chrono::milliseconds in) noexcept {
    deadline_.store((Clock::now() + in).time_since_epoch().count(), std::memory_order_relaxed);
  }
  void clear_deadline() noexcept { deadline_.store(Clock::time_point::max().time_since_epoch().count(), std::memory_order_relaxed); }

  // Waits for a request's first byte under the idle timeout (keep-alive), unless some are buffered.
  void read_idle() {
    phase_ = Phase::kIdle;
    if (server_.draining.load(std::memory_order_acquire)) return close();
    if (buffer_.size() > 0) return read_head();
    set_deadline(server_.options.idle_timeout);
    socket_.async_read_some(buffer_.prepare(4096), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
      if (ec) return self->close();  // closed, reset, idle timeout, drain
      self->buffer_.commit(n);
      self->read_head();
    });
  }

  // The head (request line + headers), then the body, within request_timeout of the first byte.
  void read_head() {
    phase_ = Phase::kReading;
    received_ = Clock::now();
    parser_.emplace();
    parser_->header_limit(server_.options.header_limit);
    parser_->body_limit(server_.options.body_limit);
    set_deadline(server_.options.request_timeout);
    http::async_read_header(socket_, buffer_, *parser_, beast::bind_front_handler(&Session::on_head, shared_from_this()));
  }

  void on_head(beast::error_code ec, std::size_t) {
    if (ec) return on_read_error(ec);
    const auto& req = parser_->get();
    method_ = std::string(req.method_string());
    target_ = std::string(req.target().substr(0, 512));
    keep_alive_ = req.keep_alive();
    const auto id_field = req["X-Request-Id"];
    const std::string_view id(id_field.data(), id_field.size());
    request_id_ = valid_request_id(id) ? std::string(id) : server_.new_request_id();
    if (const auto length = parser_->content_length(); length && *length > server_.options.body_limit) {
      server_.request_too_large.fetch_add(1, std::memory_order_relaxed);
      return reply(error_reply(413, "request_too_large",
                               "payload of " + std::to_string(*length) + " bytes, at most " +
                                   std::to_string(server_.options.body_limit),
                               request_id_),
                   true);
    }
    if (parser_->is_done()) return dispatch();
    if (beast::iequals(req[http::field::expect], "100-continue")) {  // curl sends it for bodies > 1 KiB
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      return net::async_write(socket_, net::buffer(kContinue.data(), kContinue.size()),
                              [self = shared_from_this()](beast::error_code wec, std::size_t) {
                                if (wec) return self->close();
                                self->read_body();
                              });
    }
    read_body();
  }

  void read_body() {
    http::async_read(socket_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->on_read_error(ec);
      self->dispatch();
    });
  }

  void on_read_error(const beast::error_code& ec) {
    // Closed by the sweep (a slow client: counted there), by the client, or broken: no answer.
    if (ec == http::error::end_of_stream || ec == http::error::partial_message || !is_http_error(ec)) return close();
    if (request_id_.empty()) request_id_ = server_.new_request_id();
    if (method_.empty()) method_ = "-";
    if (ec == http::error::header_limit) {
      server_.header_too_large.fetch_add(1, std::memory_order_relaxed);
      return reply(error_reply(431, "header_too_large", "request head past " + std::to_string(server_.options.header_limit) +
                                                            " bytes", request_id_), true);
    }
    if (ec == http::error::body_limit) {
      server_.request_too_large.fetch_add(1, std::memory_order_relaxed);
      return reply(error_reply(413, "request_too_large",
                               "payload past " + std::to_string(server_.options.body_limit) + " bytes", request_id_),
                   true);
    }
    server_.bad_request.fetch_add(1, std::memory_order_relaxed);
    reply(error_reply(400, "bad_request", "malformed HTTP request: " + ec.message(), request_id_), true);
  }

  void dispatch() {
    clear_deadline();
    http::request<http::string_body> req = parser_->release();
    parser_.reset();
    std::string_view path = target_;
    path = path.substr(0, path.find('?'));
    static constexpr std::string_view kInvoke = "/invoke/";
    if (path.substr(0, kInvoke.size()) == kInvoke) {
      if (req.method() != http::verb::post) return method_not_allowed("POST");
      return invoke(path.substr(kInvoke.size()), std::move(req.body()));
    }
    if (path == "/healthz" || path == "/functions" || path == "/metrics") {
      if (req.method() != http::verb::get) return method_not_allowed("GET");
      if (path == "/healthz") return reply(health_reply(server_.stats));
      HttpReply r;
      if (path == "/functions") {
        r.body = functions_body(server_.functions, server_.stats);
      } else {
        r.body = render_metrics(server_.stats, HttpServer::Impl::counters(server_));
        r.headers.emplace_back("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
      }
      return reply(std::move(r));
    }
    reply(error_reply(404, "not_found", "no route " + std::string(path), request_id_));
  }

  void method_not_allowed(const char* allow) {
    HttpReply r = error_reply(405, "method_not_allowed", "use " + std::string(allow), request_id_);
    r.headers.emplace_back("Allow", allow);
    reply(std::move(r));
  }

  void invoke(std::string_view function, std::string&& payload) {
    if (function.empty() || function.find('/') != std::string_view::npos) {
      return reply(error_reply(404, "unknown_function", "no function named in " + target_, request_id_));
    }
    Invocation invocation;
    invocation.function = std::string(function);
    invocation.payload = std::move(payload);
    // On the loop thread: copy the record (its response moved) and finish on this connection's strand.
    invocation.on_done = [self = shared_from_this()](RequestRecord& record) {
      std::string response = std::move(record.response);
      RequestRecord copy = record;
      copy.response = std::move(response);
      net::post(self->socket_.get_executor(), [self, copy = std::move(copy)]() mutable {
        self->reply(invoke_reply(copy, self->request_id_));
      });
    };
    phase_ = Phase::kInvoking;
    if (server_.draining.load(std::memory_order_acquire) || !server_.source.push(std::move(invocation))) {
      server_.refused_draining.fetch_add(1, std::memory_order_relaxed);
      reply(error_reply(503, "shutdown", "the supervisor is draining: it takes no new requests", request_id_), true);
    }
  }

  void reply(HttpReply r, bool close_after = false) {
    if (phase_ == Phase::kClosed) return;
    reply_ = std::move(r);
    response_ = {};
    response_.version(11);
    response_.result(reply_.status);
    response_.set(http::field::server, "snapfaas");
    response_.set(http::field::content_type, "application/json");
    response_.set("X-Request-Id", request_id_);
    for (const auto& [name, value] : reply_.headers) response_.set(name, value);
    response_.body() = std::move(reply_.body);
    response_.keep_alive(keep_alive_ && !close_after && !server_.draining.load(std::memory_order_acquire));
    response_.prepare_payload();
    phase_ = Phase::kWriting;
    set_deadline(server_.options.write_timeout);
    http::async_write(socket_, response_, beast::bind_front_handler(&Session::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, std::size_t bytes) {
    if (!ec) server_.responses[http_code_index(reply_.status)].fetch_add(1, std::memory_order_relaxed);
    log(bytes);
    if (ec) return close();  // the client went away: its answer is dropped
    if (!response_.keep_alive()) return linger_close();
    method_.clear();
    request_id_.clear();
    read_idle();
  }

  void log(std::size_t bytes) const {
    if (!server_.access) return;
    const auto total_us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - received_).count();
    server_.access->info("{} \"{} {} HTTP/1.1\" {} {} rid={} fn={} start={} runner={} latency_us={} total_us={}", remote_,
                         method_, target_, reply_.status, bytes, request_id_,
                         reply_.function.empty() ? "-" : reply_.function, reply_.start,
                         reply_.runner >= 0 ? std::to_string(reply_.runner) : "-",
                         reply_.runner >= 0 ? std::to_string(reply_.latency_us) : "-", total_us);
  }

  // After a final answer: stop sending, read (and drop) what the client still sends for a moment,
  // then close, so that a client still writing a refused body reads the answer instead of a reset.
  void linger_close() {
    phase_ = Phase::kClosed;
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return close();
    set_deadline(std::chrono::seconds(2));
    drain_bytes();
  }

  void drain_bytes() {
    buffer_.consume(buffer_.size());
    socket_.async_read_some(buffer_.prepare(4096), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->close();
      self->drain_bytes();
    });
  }

  void close() {
    phase_ = Phase::kClosed;
    clear_deadline();
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }

  HttpServer::Impl& server_;
  tcp::socket socket_;
  std::atomic<Clock::rep> deadline_{Clock::time_point::max().time_since_epoch().count()};
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  Phase phase_ = Phase::kIdle;
  std::string remote_;
  // The request being served.
  std::string method_;
  std::string target_;
  std::string request_id_;
  bool keep_alive_ = true;
  Clock::time_point received_{};
  HttpReply reply_;
};

// ---- the server ----

void parse_listen_address(std::string_view text, HttpOptions& options) {
  const std::size_t colon = text.rfind(':');
  std::string_view host = colon == std::string_view::npos ? std::string_view() : text.substr(0, colon);
  const std::string_view port = colon == std::string_view::npos ? text : text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  unsigned long value = 0;
  const bool digits = !port.empty() && port.size() <= 5 && port.find_first_not_of("0123456789") == std::string_view::npos;
  if (digits) value = std::stoul(std::string(port));
  if (!digits || value > 65535 || host.empty()) {
    throw common::Error("--listen " + std::string(text) + ": expected ADDRESS:PORT (e.g. 127.0.0.1:8080, [::1]:8080)");
  }
  beast::error_code ec;
  (void)net::ip::make_address(std::string(host), ec);
  if (ec) throw common::Error("--listen " + std::string(text) + ": '" + std::string(host) + "' is not an IP address");
  options.address = std::string(host);
  options.port = static_cast<std::uint16_t>(value);
}

std::string HttpServer::Impl::new_request_id() {
  return id_prefix + std::to_string(next_id.fetch_add(1, std::memory_order_relaxed));
}

// The HTTP thread: handlers as they become ready; with options.spin, it polls (non-blocking
// epoll_wait, yielding the CPU in between) that long after its last handler before it blocks, so
// that a busy server is not put to sleep and woken (by a socket or the loop's completion) between
// requests.
void HttpServer::Impl::serve() {
  if (options.spin.count() == 0) {
    ioc.run();
    return;
  }
  auto last = Clock::now();
  while (!ioc.stopped()) {
    if (ioc.poll() > 0) {
      last = Clock::now();
    } else if (Clock::now() - last >= options.spin) {
      ioc.run_one();  // blocks for the next handler
      last = Clock::now();
    } else {
      std::this_thread::yield();  // a thread that must run on this core to feed us gets it
    }
  }
}

void HttpServer::Impl::do_accept() {
  // One HTTP thread serializes every handler already: strands only with several.
  if (options.threads > 1) {
    acceptor.async_accept(net::make_strand(ioc), beast::bind_front_handler(&Impl::on_accept, this));
  } else {
    acceptor.async_accept(ioc.get_executor(), beast::bind_front_handler(&Impl::on_accept, this));
  }
}

// Every 100 ms: sessions past their deadline (idle, slow, stuck writing) are closed.
void HttpServer::Impl::sweep() {
  sweep_timer.expires_after(std::chrono::milliseconds(100));
  sweep_timer.async_wait([this](beast::error_code ec) {
    if (ec) return;  // cancelled: the server stops
    const auto now = Clock::now();
    std::vector<std::weak_ptr<Session>> all;
    {
      // Copies only: a shared_ptr released under the mutex could run ~Session, which takes it.
      const std::lock_guard lock(sessions_mutex);
      all.reserve(sessions.size());
      for (const auto& [raw, weak] : sessions) all.push_back(weak);
    }
    for (const auto& weak : all) {
      if (auto session = weak.lock()) session->check_deadline(now);
    }
    sweep();
  });
}

// A connection past the cap: one canned 503 (best effort, never blocks), then closed.
void HttpServer::Impl::refuse(tcp::socket& socket) noexcept {
  static constexpr std::string_view kRefused =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\n"
      "Content-Length: 81\r\n\r\n{\"error\":{\"type\":\"no_capacity\",\"message\":\"too many connections\"},\"request_id\":\"\"}";
  static_assert(kRefused.size() - kRefused.find("\r\n\r\n") - 4 == 81);
  beast::error_code ec;
  socket.non_blocking(true, ec);
  socket.write_some(net::buffer(kRefused.data(), kRefused.size()), ec);
  socket.shutdown(tcp::socket::shutdown_send, ec);
  socket.close(ec);
}

void HttpServer::Impl::on_accept(beast::error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || !acceptor.is_open()) return;  // stop_accepting
  if (ec) {
    // Out of descriptors (EMFILE/ENFILE) or a transient error: retry shortly instead of spinning.
    spdlog::warn("supervisor: http accept: {}", ec.message());
    accept_retry.expires_after(std::chrono::milliseconds(50));
    accept_retry.async_wait([this](beast::error_code wec) {
      if (!wec && acceptor.is_open()) do_accept();
    });
    return;
  }
  accepted.fetch_add(1, std::memory_order_relaxed);
  if (open.load(std::memory_order_relaxed) >= options.max_connections) {
    refused_cap.fetch_add(1, std::memory_order_relaxed);
    refuse(socket);
  } else {
    beast::error_code opt;
    socket.set_option(tcp::no_delay(true), opt);
    open.fetch_add(1, std::memory_order_relaxed);
    std::make_shared<Session>(*this, std::move(socket))->start();
  }
  do_accept();
}

HttpCounters HttpServer::Impl::counters(const Impl& s) noexcept {
  HttpCounters c{s.open.load(std::memory_order_relaxed),           s.accepted.load(std::memory_order_relaxed),
                 s.refused_cap.load(std::memory_order_relaxed),    s.bad_request.load(std::memory_order_relaxed),
                 s.header_too_large.load(std::memory_order_relaxed), s.request_too_large.load(std::memory_order_relaxed),
                 s.timed_out.load(std::memory_order_relaxed),      s.refused_draining.load(std::memory_order_relaxed),
                 {}};
  for (std::size_t i = 0; i < c.responses.size(); ++i) c.responses[i] = s.responses[i].load(std::memory_order_relaxed);
  return c;
}

HttpServer::HttpServer(HttpOptions options, HttpSource& source, std::vector<FunctionConfig> functions,
                       const ipc::StatsReader& stats)
    : impl_(std::make_unique<Impl>(std::move(options), source, std::move(functions), stats)) {}

HttpServer::~HttpServer() { drain(std::chrono::milliseconds(0)); }

void HttpServer::start() {
  Impl& s = *impl_;
  const std::string where = s.options.address + ":" + std::to_string(s.options.port);
  try {
    const tcp::endpoint endpoint(net::ip::make_address(s.options.address), s.options.port);
    s.acceptor.open(endpoint.protocol());
    s.acceptor.set_option(net::socket_base::reuse_address(true));
    s.acceptor.bind(endpoint);
    s.acceptor.listen(net::socket_base::max_listen_connections);
    s.port = s.acceptor.local_endpoint().port();
  } catch (const boost::system::system_error& e) {
    throw common::Error("listen " + where + ": " + e.code().message());
  }
  if (s.options.access_log == "-") {
    s.access = std::make_shared<spdlog::logger>("access", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  } else if (!s.options.access_log.empty()) {
    try {
      spdlog::sink_ptr sink;
      if (s.options.access_log_max_bytes > 0) {
        sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(s.options.access_log, s.options.access_log_max_bytes,
                                                                      s.options.access_log_files);
      } else {
        sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(s.options.access_log);
      }
      s.access = std::make_shared<spdlog::logger>("access", std::move(sink));
    } catch (const spdlog::spdlog_ex& e) {
      throw common::Error("access log " + s.options.access_log + ": " + e.what());
    }
  }
  if (s.access) {
    s.access->set_pattern("[%Y-%m-%dT%H:%M:%S.%e%z] %v");
    s.access->flush_on(spdlog::level::err);
  }
  std::random_device random;
  char prefix[16];
  std::snprintf(prefix, sizeof prefix, "%08x-", random());
  s.id_prefix = prefix;
  s.work.emplace(s.ioc.get_executor());
  s.do_accept();
  s.sweep();
  // Threads inherit the signal mask: block everything while creating them, so that SIGTERM and
  // SIGINT reach the event loop's thread (main), whose handler only sets a flag.
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_BLOCK, &all, &old);
  for (unsigned i = 0; i < std::max(1U, s.options.threads); ++i) s.threads.emplace_back([&s] { s.serve(); });
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  s.running = true;
  spdlog::info("supervisor: listening on {}:{} ({} HTTP threads, at most {} connections)", s.options.address, s.port,
               s.threads.size(), s.options.max_connections);
}

std::uint16_t HttpServer::port() const noexcept { return impl_->port; }

void HttpServer::stop_accepting() noexcept {
  Impl& s = *impl_;
  s.draining.store(true, std::memory_order_release);  // pairs with the sessions' acquire loads
  net::post(s.acceptor.get_executor(), [&s] {
    beast::error_code ec;
    s.acceptor.close(ec);
    s.accept_retry.cancel();
  });
}

void HttpServer::drain(std::chrono::milliseconds grace, const std::atomic<bool>* abort) noexcept {
  Impl& s = *impl_;
  if (!s.running) return;
  s.running = false;
  stop_accepting();
  std::vector<std::shared_ptr<Session>> sessions;
  {
    const std::lock_guard lock(s.sessions_mutex);
    for (auto& [raw, weak] : s.sessions) {
      if (auto session = weak.lock()) sessions.push_back(std::move(session));
    }
  }
  for (auto& session : sessions) session->close_if_idle();
  sessions.clear();
  const auto until = Clock::now() + grace;
  while (s.open.load(std::memory_order_relaxed) > 0 && Clock::now() < until &&
         (abort == nullptr || !abort->load(std::memory_order_relaxed))) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (s.open.load(std::memory_order_relaxed) > 0) {
    spdlog::warn("supervisor: http drain: closing {} connections still open", s.open.load(std::memory_order_relaxed));
  }
  s.work.reset();
  s.ioc.stop();
  for (std::thread& t : s.threads) t.join();
  s.threads.clear();
  if (s.access) s.access->flush();
}

HttpCounters HttpServer::counters() const noexcept { return Impl::counters(*impl_); }

}  // namespace snapfaas::supervisor
