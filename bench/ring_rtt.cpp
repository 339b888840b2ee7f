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
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "bench/rtt_harness.h"
#include "common/error.h"
#include "ipc/channel.h"
#include "tests/ipc/test_support.h"

namespace {

using namespace snapfaas;
using bench::kMaxPayload;
using bench::pin_to;
using bench::size_label;
using ipc::test::fork_child;
using ipc::test::wait_child;
using Clock = std::chrono::steady_clock;
constexpr std::uint64_t kKey = 0x5A5A5A5A5A5A5A5AULL;

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
    const bool ok = wait_child(std::exchange(child_, 0)) == 0;
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

/// The Unix-socket baseline: the server XORs the request in place and sends it back.
class XorUnixPeer final : public bench::UnixPeer {
 public:
  explicit XorUnixPeer(std::size_t size) : bench::UnixPeer(pattern(size), size) { start(); }

 private:
  static std::vector<std::uint8_t> pattern(std::size_t size) {
    std::vector<std::uint8_t> p(size);
    for (std::size_t i = 0; i < size; ++i) p[i] = static_cast<std::uint8_t>(i * 7);
    return p;
  }

  std::span<const std::uint8_t> answer(std::span<std::uint8_t> frame) override {
    const auto n = static_cast<std::uint32_t>(frame.size() - 4);
    transform(frame.data() + 4, n);
    std::memcpy(frame.data(), &n, 4);
    return frame;
  }

  void check(std::span<const std::uint8_t> response) const override {
    if ((response[0] ^ 0x5A) != payload()[0]) throw common::Error("unix: wrong response");
  }
};

}  // namespace

int main(int argc, char** argv) {
  return bench::rtt_main(
      argc, argv,
      {"ring_rtt", "Round-trip latency: shm channel (exitless, default, futex-parked) vs Unix domain socket",
       "few iterations (a few seconds in total)"},
      [](bool quick, nlohmann::json& j) {
        const bool pin = std::thread::hardware_concurrency() >= 2;  // exitless needs two cores
        const int warmup = quick ? 100 : 1000;
        std::vector<bench::Series> series;
        unsigned index = 0;
        for (std::size_t size : bench::kPayloadSizes) {
          const int iterations = quick ? (size > 1024 ? 500 : 2000) : (size > 1024 ? 10000 : 50000);
          series.push_back({"ring", size, iterations, pin, std::make_unique<RingPeer>(false, size, index++, pin), {}, 0});
          series.push_back(
              {"ring_default", size, iterations, false, std::make_unique<RingPeer>(false, size, index++, false), {}, 0});
          series.push_back(
              {"ring_parked", size, iterations, false, std::make_unique<RingPeer>(true, size, index++, false), {}, 0});
          series.push_back({"unix", size, iterations, false, std::make_unique<XorUnixPeer>(size), {}, 0});
        }
        bench::run_interleaved(series, warmup);

        j["ring_pinned_cpu0_cpu1"] = pin;
        j["machine"] = bench::machine_info();
        bench::report_series(series, j);
        bool met = true;
        for (std::size_t size : bench::kPayloadSizes) {
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
      });
}
