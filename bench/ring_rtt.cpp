// bench_ring_rtt: request → response round-trip latency between two processes (fork), through a
// per-runner shm channel and, in the same run, through a Unix domain socket with a 4-byte length
// prefix. Both servers read every request byte and write a same-sized response (XOR in place).
// Cases:
//   ring          exitless path: client and server each on their own core (pinned to CPU 0 / 1, as
//                 a vCPU thread would be), production wait (bounded spin, then futex)
//   ring_default  the same wait, no pinning: wherever the scheduler puts the two processes
//   ring_parked   spin 0: every wait sleeps on the futex (the idle-VM path), no pinning
//   unix          blocking read/write on a socketpair, no pinning
// All cases stay alive together and are measured in interleaved rounds, so background load on a
// shared machine hits every case alike.
// Usage: bench_ring_rtt [--out FILE.json] [--quick]
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "bench/rtt_harness.h"
#include "common/error.h"
#include "common/unique_fd.h"
#include "ipc/channel.h"

namespace {

using namespace snapfaas;
using bench::child_succeeded;
using bench::fork_child;
using bench::pin_to;
using bench::read_full;
using bench::size_label;
using bench::write_full;
using Clock = std::chrono::steady_clock;
constexpr std::uint64_t kKey = 0x5A5A5A5A5A5A5A5AULL;
constexpr std::size_t kMaxPayload = 64 * 1024;

// The server's work: touch every byte once (read and write), 8 bytes at a time.
void transform(std::uint8_t* data, std::size_t n) {
  for (std::size_t i = 0; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, data + i, 8);
    w ^= kKey;
    std::memcpy(data + i, &w, 8);
  }
}

class RingPeer final : public bench::Peer {
 public:
  RingPeer(bool parked, std::size_t size, unsigned index, bool pin_server)
      : parked_(parked),
        size_(size),
        sup_(ipc::SupervisorChannel::create(ipc::channel_object_name(::getpid(), index),
                                            {.slot_size = kMaxPayload, .slot_count = 4})),
        request_(size),
        response_(size) {
    for (std::size_t i = 0; i < size; ++i) request_[i] = static_cast<std::uint8_t>(i * 7);
    const std::string name = sup_.shm().name();
    child_ = fork_child([this, name, pin_server] {
      if (pin_server) pin_to(1);
      ipc::RunnerChannel run = ipc::RunnerChannel::open(name);
      for (;;) {
        if (!run.wait(wait_options())) return 2;
        if (ipc::Result<ipc::Request> req = run.try_receive(); req) {
          transform(req->slot_bytes.data(), req->payload.size());
          if (!run.respond(req->request_id, req->slot, static_cast<std::uint32_t>(req->payload.size()))) return 3;
        } else if (req.error() != ipc::IpcError::kRingEmpty) {
          return 4;
        }
        if (ipc::Result<ipc::ControlCommand> cmd = run.try_control(); cmd) {
          return run.reply_control({cmd->command_id, cmd->op, 0, 0}) ? 0 : 5;
        }
      }
    });
  }

  double round_trip() override {
    const auto t0 = Clock::now();
    ipc::Result<std::uint32_t> slot = sup_.send_copy(next_id_++, request_);
    if (!slot) throw common::Error(std::string("ring send: ") + ipc::to_string(slot.error()));
    ipc::Result<ipc::Response> resp = sup_.receive(wait_options());
    if (!resp) throw common::Error(std::string("ring receive: ") + ipc::to_string(resp.error()));
    const std::size_t n = resp->payload.size();
    std::memcpy(response_.data(), resp->payload.data(), std::min(size_, n));
    (void)sup_.release(resp->slot);
    const auto t1 = Clock::now();
    if (n != size_ || (response_[0] ^ 0x5A) != request_[0]) throw common::Error("ring: wrong response");
    return std::chrono::duration<double, std::micro>(t1 - t0).count();
  }

  void stop() override {
    if (child_ <= 0) return;
    (void)sup_.send_control({1, static_cast<std::uint32_t>(ipc::ControlOp::kShutdown), 0, 0, 0});
    (void)sup_.control_reply(ipc::WaitOptions::within(std::chrono::seconds(10)));
    const bool ok = child_succeeded(std::exchange(child_, 0));
    if (!ok) throw common::Error("ring: server failed");
  }

 private:
  [[nodiscard]] ipc::WaitOptions wait_options() const {
    ipc::WaitOptions o;  // default bounded spin
    if (parked_) o.spin = std::chrono::nanoseconds(0);
    o.deadline = Clock::now() + std::chrono::seconds(30);
    return o;
  }

  bool parked_;
  std::size_t size_;
  ipc::SupervisorChannel sup_;
  std::vector<std::uint8_t> request_, response_;
  std::uint64_t next_id_ = 0;
  pid_t child_ = 0;
};

class UnixPeer final : public bench::Peer {
 public:
  explicit UnixPeer(std::size_t size) : size_(size), request_(4 + size), response_(size) {
    int fds[2];
    common::check_sys(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), "socketpair");
    common::UniqueFd theirs(fds[1]);
    fd_.reset(fds[0]);
    const auto len = static_cast<std::uint32_t>(size);
    std::memcpy(request_.data(), &len, 4);
    for (std::size_t i = 0; i < size; ++i) request_[4 + i] = static_cast<std::uint8_t>(i * 7);
    child_ = fork_child([this, &theirs] {
      fd_.reset();
      std::vector<std::uint8_t> buf(4 + kMaxPayload);
      for (;;) {
        std::uint32_t n = 0;
        if (!read_full(theirs.get(), &n, 4)) return 2;
        if (n == 0) return 0;
        if (n > kMaxPayload || !read_full(theirs.get(), buf.data() + 4, n)) return 3;
        transform(buf.data() + 4, n);
        std::memcpy(buf.data(), &n, 4);
        if (!write_full(theirs.get(), buf.data(), 4 + n)) return 4;
      }
    });
  }

  double round_trip() override {
    const auto t0 = Clock::now();
    std::uint32_t got = 0;
    if (!write_full(fd_.get(), request_.data(), request_.size()) || !read_full(fd_.get(), &got, 4) ||
        got != size_ || !read_full(fd_.get(), response_.data(), size_)) {
      throw common::sys_error("unix round trip");
    }
    const auto t1 = Clock::now();
    if ((response_[0] ^ 0x5A) != request_[4]) throw common::Error("unix: wrong response");
    return std::chrono::duration<double, std::micro>(t1 - t0).count();
  }

  void stop() override {
    if (child_ <= 0) return;
    const std::uint32_t zero = 0;
    (void)write_full(fd_.get(), &zero, 4);
    if (!child_succeeded(std::exchange(child_, 0))) throw common::Error("unix: server failed");
  }

 private:
  std::size_t size_;
  common::UniqueFd fd_;
  std::vector<std::uint8_t> request_, response_;
  pid_t child_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Round-trip latency: shm channel (exitless, default, futex-parked) vs Unix domain socket"};
  std::string out;
  bool quick = false;
  app.add_option("--out", out, "write the figures as JSON to this file");
  app.add_flag("--quick", quick, "few iterations (a few seconds in total)");
  CLI11_PARSE(app, argc, argv);

  try {
    const bool pin = std::thread::hardware_concurrency() >= 2;  // exitless needs two cores
    const std::vector<std::size_t> sizes = {64, 1024, kMaxPayload};
    const int rounds = 10;
    const int warmup = quick ? 100 : 1000;
    std::vector<bench::Series> series;
    unsigned index = 0;
    for (std::size_t size : sizes) {
      const int iterations = quick ? (size > 1024 ? 500 : 2000) : (size > 1024 ? 10000 : 50000);
      series.push_back({"ring", size, iterations, pin, std::make_unique<RingPeer>(false, size, index++, pin), {}});
      series.push_back({"ring_default", size, iterations, false, std::make_unique<RingPeer>(false, size, index++, false), {}});
      series.push_back({"ring_parked", size, iterations, false, std::make_unique<RingPeer>(true, size, index++, false), {}});
      series.push_back({"unix", size, iterations, false, std::make_unique<UnixPeer>(size), {}});
    }
    bench::run_interleaved(series, warmup, rounds);

    nlohmann::json j;
    j["benchmark"] = "ring_rtt";
    j["quick"] = quick;
    j["ring_pinned_cpu0_cpu1"] = pin;
    j["machine"] = bench::machine_info();
    bench::report_series(series, j);
    bool met = true;
    for (std::size_t size : sizes) {
      const std::string l = size_label(size);
      const double unix_p50 = j["unix_p50_us_" + l].get<double>();
      const double ratio = unix_p50 / j["ring_p50_us_" + l].get<double>();
      const double ratio_parked = unix_p50 / j["ring_parked_p50_us_" + l].get<double>();
      j["ratio_unix_over_ring_p50_" + l] = ratio;
      j["ratio_unix_over_ring_p99_" + l] = j["unix_p99_us_" + l].get<double>() / j["ring_p99_us_" + l].get<double>();
      j["ratio_unix_over_ring_parked_p50_" + l] = ratio_parked;
      const double ratio_default = unix_p50 / j["ring_default_p50_us_" + l].get<double>();
      j["ratio_unix_over_ring_default_p50_" + l] = ratio_default;
      std::printf("unix/ring p50 %-6s exitless %7.2fx   default %7.2fx   parked %6.2fx\n", l.c_str(), ratio,
                  ratio_default, ratio_parked);
      met = met && ratio >= 3.0;
    }
    met = met && j["ring_p50_us_64B"].get<double>() <= 5.0;
    j["targets"] = {{"ratio_unix_over_ring_p50_min", 3.0}, {"ring_p50_us_64B_max", 5.0}, {"met", met}};
    std::printf("targets (unix/ring p50 >= 3x at every size, ring p50 64B <= 5 us): %s\n", met ? "met" : "NOT met");
    bench::write_json(out, j);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_ring_rtt: %s\n", e.what());
    return 1;
  }
  return 0;
}
