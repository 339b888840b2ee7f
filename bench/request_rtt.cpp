// bench_request_rtt: request → response round trip through a runner's channel and the guest ring
// window (firerunner --channel with a ring-3 checksum guest: the guest reads every request byte,
// writes FNV-1a64 + the payload back into the slot) vs the same payloads over a Unix domain socket
// to a plain forked process doing the same work (the socket path SnapFaaS used), in the same run.
// Cases:
//   window         polling path: the guest polls the request ring (~50 us of TSC) before WAIT and
//                  the supervisor spins before parking — exitless while requests keep coming; the
//                  client is pinned to CPU 0 and that firerunner (its vCPU thread) to CPU 1
//   window_parked  parked path: the guest WAITs at once (port-I/O exit, runner parks on the futex)
//                  and the supervisor parks on its doorbell; the guest rings RESPONSE_READY
//   unix           blocking read/write on a socketpair, 4-byte length prefix
// All cases stay alive together and are measured in interleaved rounds.
// Usage: bench_request_rtt [--out FILE.json] [--quick]
#include <signal.h>
#include <sys/wait.h>
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
#include "ipc/guest_abi.h"
#include "tests/ipc/test_support.h"

namespace {

using namespace snapfaas;
using bench::kMaxPayload;
using bench::pin_to;
using bench::size_label;
using Clock = std::chrono::steady_clock;
constexpr std::uint32_t kSlotSize = 128 * 1024;  // payload + the 8-byte checksum

std::uint64_t fnv1a(const std::uint8_t* p, std::size_t n) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

/// firerunner --channel with a ring-3 window guest, as a child process.
class WindowPeer final : public bench::Peer {
 public:
  WindowPeer(bool parked, std::size_t size, unsigned index)
      : size_(size),
        sup_(ipc::SupervisorChannel::create("/snapfaas-bench-rtt-" + std::to_string(::getpid()) + "-" +
                                                std::to_string(index),
                                            {.slot_size = kSlotSize, .slot_count = 4})),
        request_(size) {
    for (std::size_t i = 0; i < size; ++i) request_[i] = static_cast<std::uint8_t>(i * 7 + 3);
    expected_ = fnv1a(request_.data(), size);
    wait_.spin = parked ? std::chrono::nanoseconds(0) : std::chrono::nanoseconds(std::chrono::microseconds(500));
    const std::string kernel = std::string(SNAPFAAS_GUEST_DIR) + (parked ? "/guest_window_checksum_park"
                                                                         : "/guest_window_checksum");
    const std::string name = sup_.shm().name();
    child_ = ::fork();
    if (child_ < 0) throw common::sys_error("fork firerunner");
    if (child_ == 0) {
      if (!parked && std::thread::hardware_concurrency() >= 2) pin_to(1);
      ::execl(SNAPFAAS_FIRERUNNER, SNAPFAAS_FIRERUNNER, "--kernel", kernel.c_str(), "--mem_size", "16", "--channel",
              name.c_str(), "--log-level", "warn", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    if (!sup_.send_control({1, static_cast<std::uint32_t>(ipc::ControlOp::kPing), ipc::kPingGuestReady, 0, 0})) {
      throw common::Error("window: control ring full");
    }
    ipc::Result<ipc::ControlReply> r = sup_.control_reply(ipc::WaitOptions::within(std::chrono::seconds(30)));
    if (!r || r->status != 0) throw common::Error("window: guest not ready");
  }

  double round_trip() override {
    const auto t0 = Clock::now();
    ipc::Result<std::uint32_t> slot = sup_.send_copy(++next_id_, request_);
    if (!slot) throw common::Error(std::string("window send: ") + ipc::to_string(slot.error()));
    ipc::WaitOptions wait = wait_;
    wait.deadline = Clock::now() + std::chrono::seconds(10);
    ipc::Result<ipc::Response> r = sup_.receive(wait);
    const auto t1 = Clock::now();
    if (!r) throw common::Error(std::string("window receive: ") + ipc::to_string(r.error()));
    std::uint64_t sum = 0;
    if (r->payload.size() != size_ + 8) throw common::Error("window: wrong response length");
    std::memcpy(&sum, r->payload.data(), 8);
    if (sum != expected_) throw common::Error("window: wrong checksum");
    if (!sup_.release(r->slot)) throw common::Error("window: release");
    return std::chrono::duration<double, std::micro>(t1 - t0).count();
  }

  void stop() override {
    if (child_ <= 0) return;
    (void)sup_.send_control({2, static_cast<std::uint32_t>(ipc::ControlOp::kShutdown), 0, 0, 0});
    if (ipc::test::wait_child(std::exchange(child_, 0)) != 0) throw common::Error("window: firerunner failed");
  }

  ~WindowPeer() override {
    if (child_ > 0) {
      ::kill(child_, SIGKILL);
      ::waitpid(child_, nullptr, 0);
    }
  }

 private:
  std::size_t size_;
  ipc::SupervisorChannel sup_;
  std::vector<std::uint8_t> request_;
  std::uint64_t expected_ = 0;
  ipc::WaitOptions wait_;
  std::uint64_t next_id_ = 0;
  pid_t child_ = 0;
};

/// A plain forked process answering length-prefixed requests with FNV-1a64 + the payload.
class ChecksumUnixPeer final : public bench::UnixPeer {
 public:
  explicit ChecksumUnixPeer(std::size_t size)
      : bench::UnixPeer(pattern(size), size + 8),
        expected_(fnv1a(payload().data(), size)),
        out_(4 + 8 + kMaxPayload) {
    start();
  }

 private:
  static std::vector<std::uint8_t> pattern(std::size_t size) {
    std::vector<std::uint8_t> p(size);
    for (std::size_t i = 0; i < size; ++i) p[i] = static_cast<std::uint8_t>(i * 7 + 3);
    return p;
  }

  std::span<const std::uint8_t> answer(std::span<std::uint8_t> frame) override {
    const auto n = static_cast<std::uint32_t>(frame.size() - 4);
    const std::uint64_t sum = fnv1a(frame.data() + 4, n);
    const std::uint32_t m = n + 8;
    std::memcpy(out_.data(), &m, 4);
    std::memcpy(out_.data() + 4, &sum, 8);
    std::memcpy(out_.data() + 12, frame.data() + 4, n);
    return std::span(out_).first(4 + m);
  }

  void check(std::span<const std::uint8_t> response) const override {
    std::uint64_t sum = 0;
    std::memcpy(&sum, response.data(), 8);
    if (sum != expected_) throw common::Error("unix: wrong checksum");
  }

  std::uint64_t expected_;
  std::vector<std::uint8_t> out_;  // the server's response frame
};

}  // namespace

int main(int argc, char** argv) {
  return bench::rtt_main(
      argc, argv,
      {"request_rtt", "Request round trip: channel + guest ring window (polling, parked) vs Unix domain socket",
       "few iterations"},
      [](bool quick, nlohmann::json& j) {
        const bool pin = std::thread::hardware_concurrency() >= 2;
        const int warmup = quick ? 50 : 500;
        std::vector<bench::Series> series;
        unsigned index = 0;
        for (std::size_t size : bench::kPayloadSizes) {
          const int iterations = quick ? (size > 1024 ? 300 : 1000) : (size > 1024 ? 3000 : 20000);
          series.push_back({"window", size, iterations, pin, std::make_unique<WindowPeer>(false, size, index++), {}});
          series.push_back(
              {"window_parked", size, iterations, false, std::make_unique<WindowPeer>(true, size, index++), {}});
          series.push_back({"unix", size, iterations, false, std::make_unique<ChecksumUnixPeer>(size), {}});
        }
        bench::run_interleaved(series, warmup);

        j["window_pinned_cpu0_cpu1"] = pin;
        j["machine"] = bench::machine_info();
        bench::report_series(series, j);
        for (std::size_t size : bench::kPayloadSizes) {
          const std::string l = size_label(size);
          for (const char* q : {"p50", "p99"}) {
            const double unix_q = j[std::string("unix_") + q + "_us_" + l].get<double>();
            j[std::string("ratio_unix_over_window_") + q + "_" + l] =
                unix_q / j[std::string("window_") + q + "_us_" + l].get<double>();
            j[std::string("ratio_unix_over_window_parked_") + q + "_" + l] =
                unix_q / j[std::string("window_parked_") + q + "_us_" + l].get<double>();
          }
          std::printf("unix/window p50 %-6s polling %7.2fx   parked %7.2fx\n", l.c_str(),
                      j["ratio_unix_over_window_p50_" + l].get<double>(),
                      j["ratio_unix_over_window_parked_p50_" + l].get<double>());
        }
      });
}
