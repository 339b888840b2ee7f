// bench_request_rtt: request → response round trip through a runner's channel and the guest ring
// window (firerunner --channel with a ring-3 checksum guest: the guest reads every request byte,
// writes FNV-1a64 + the payload back into the slot) vs the same payloads over a Unix domain socket
// to a plain forked process doing the same work (the socket path SnapFaaS used), in the same run.
// "Parked" has two meanings, and the keys name which one:
//   within   the request arrives kWithinGapUs after the previous response, inside the spin
//            windows (guest, runner WAIT, client): what a busy-ish function meets
//   expired  the request arrives kExpiredGapUs after the previous response, after every spin
//            window ran out (and after the adaptive spins backed off to parking at once): the
//            runner's vCPU thread is parked on the futex inside the WAIT exit, the guest in the
//            exit, the client sleeps between requests: what sparse serverless traffic meets.
//            ratio_unix_over_window_parked_* (issue 20's key) is this case.
// Cases (ring-3 checksum guests; the client's response wait is Doorbell::wait with kClientSpin and
// a sched_yield between spin rounds, as the supervisor's event loop polls --loop_spin with
// --loop_spin_yield before parking):
//   window                 polling path, back to back: the guest polls (adaptive, <= 150k TSC
//                          cycles) before WAIT, the client spins up to 500 us, no yield; client pinned to CPU
//                          0 and that firerunner (its vCPU thread) to CPU 1
//   window_parked_within   default configuration (adaptive spins everywhere), gap kWithinGapUs; traced
//   window_parked_expired  default configuration, gap kExpiredGapUs; traced
//   window_parked_expired_pinned  the same, client pinned to CPU 0 and the firerunner to CPU 1 (a
//                          vCPU thread that always wakes on the CPU it slept on); traced
//   window_exit_driven     no spin in the guest (it WAITs at once), gap kExpiredGapUs: the
//                          exit-driven path alone; traced
//   window_parked_before   with SNAPFAAS_BASELINE_BUILD=DIR (a Release build of an older tree:
//                          DIR/runner/firerunner, DIR/tests/guests/guest_window_checksum_park): the
//                          old bench's parked case (guest WAITs at once, client parks at once) on
//                          those binaries, gap kExpiredGapUs: the before figure, same run
//   unix, unix_within, unix_expired  blocking read/write on a socketpair, 4-byte length prefix,
//                          back to back and with the two gaps
// Phase trace (traced cases): TSC stamps of the client (send, sent, received), of the guest
// (request seen, response pushed: guest_window_checksum*_trace appends them) and of the runner
// (ipc/window_trace.h: WAIT's futex wake, WAIT answering ready, the arrival of the exit that rings
// for the response, the FUTEX_WAKE of the client) split each round trip; p50 of each phase and
// exits per request. Guest stamps are used only when they fall inside their round trip (the
// guest's TSC is the host's under PVM).
// Ceiling (per size): window_exit_driven's traced VM entry (3_vmm_return_to_guest) + VM exit
// (5_vm_exit), p50 each, and unix_expired over it: the best parked ratio reachable on this host's
// KVM with everything else free.
// Idle CPU: kIdleRunners firerunners with the default guest each serve a burst of requests, then
// idle; the CPU they use together over the next seconds (incl. the spins' tail), in % of one core.
// All cases stay alive together and are measured in interleaved rounds.
// Usage: bench_request_rtt [--out FILE.json] [--quick]
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bench/rtt_harness.h"
#include "common/error.h"
#include "ipc/channel.h"
#include "ipc/guest_abi.h"
#include "ipc/window_trace.h"
#include "tests/ipc/test_support.h"

namespace {

using namespace snapfaas;
using bench::kMaxPayload;
using bench::pin_to;
using bench::size_label;
using Clock = std::chrono::steady_clock;
constexpr std::uint32_t kSlotSize = 128 * 1024;  // payload + the 8-byte checksum + 16 bytes of trace
constexpr int kWithinGapUs = 10;     // < every spin window (guest ~50 us of TSC, WAIT 50 us, client 50 us)
constexpr int kExpiredGapUs = 2000;  // > every spin window
constexpr int kIdleRunners = 100;
// The client's most spin for a response: the supervisor's --loop_spin default (runner_pool.h).
constexpr std::chrono::microseconds kClientSpin{50};

std::uint64_t fnv1a(const std::uint8_t* p, std::size_t n) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

/// TSC ticks per microsecond, measured against steady_clock.
double tsc_per_us() {
  const auto t0 = Clock::now();
  const std::uint64_t c0 = ipc::read_tsc();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const std::uint64_t c1 = ipc::read_tsc();
  return static_cast<double>(c1 - c0) / std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
}

/// How a WindowPeer is run.
struct WindowConfig {
  std::string firerunner = SNAPFAAS_FIRERUNNER;
  std::string guest;                        ///< path of the ring-3 guest
  std::chrono::nanoseconds client_spin{0};  ///< the client's most spin before parking for the response
  bool client_yield = true;                 ///< sched_yield between spin rounds, as the supervisor's loop does
  bool pin = false;                         ///< firerunner on CPU 1 (the client pins itself to CPU 0)
  bool trace = false;                       ///< the guest appends its two TSC stamps: split each round trip
};

/// The phases of traced round trips (µs each), and exit counts.
struct Phases {
  std::map<std::string, std::vector<double>> us;
  std::uint64_t trips = 0, waits = 0, wait_parks = 0, response_rings = 0, supervisor_wakes = 0;
  std::uint64_t guest_tsc_outside = 0;  ///< guest stamps outside their round trip (TSC not comparable)
};

/// firerunner --channel with a ring-3 window guest, as a child process.
class WindowPeer final : public bench::Peer {
 public:
  WindowPeer(WindowConfig config, std::size_t size, unsigned index, double tsc_us)
      : config_(std::move(config)),
        size_(size),
        tsc_us_(tsc_us),
        sup_(ipc::SupervisorChannel::create("/snapfaas-bench-rtt-" + std::to_string(::getpid()) + "-" +
                                                std::to_string(index),
                                            {.slot_size = kSlotSize, .slot_count = 4})),
        request_(size) {
    for (std::size_t i = 0; i < size; ++i) request_[i] = static_cast<std::uint8_t>(i * 7 + 3);
    expected_ = fnv1a(request_.data(), size);
    wait_.spin = config_.client_spin;
    wait_.yield = config_.client_yield;
    const std::string name = sup_.shm().name();
    child_ = ::fork();
    if (child_ < 0) throw common::sys_error("fork firerunner");
    if (child_ == 0) {
      if (config_.pin && std::thread::hardware_concurrency() >= 2) pin_to(1);
      ::execl(config_.firerunner.c_str(), config_.firerunner.c_str(), "--kernel", config_.guest.c_str(), "--mem_size",
              "16", "--channel", name.c_str(), "--log-level", "warn", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    if (!sup_.send_control({1, static_cast<std::uint32_t>(ipc::ControlOp::kPing), ipc::kPingGuestReady, 0, 0})) {
      throw common::Error("window: control ring full");
    }
    ipc::Result<ipc::ControlReply> r = sup_.control_reply(ipc::WaitOptions::within(std::chrono::seconds(60)));
    if (!r || r->status != 0) throw common::Error("window: guest not ready");
  }

  double round_trip() override {
    const ipc::WindowTrace before = config_.trace ? ipc::read_window_trace(sup_.shm().data()) : ipc::WindowTrace{};
    const std::uint64_t c0 = ipc::read_tsc();
    const auto t0 = Clock::now();
    ipc::Result<std::uint32_t> slot = sup_.send_copy(++next_id_, request_);
    const std::uint64_t c_sent = ipc::read_tsc();
    if (!slot) throw common::Error(std::string("window send: ") + ipc::to_string(slot.error()));
    ipc::WaitOptions wait = wait_;
    wait.deadline = Clock::now() + std::chrono::seconds(10);
    ipc::Result<ipc::Response> r = sup_.receive(wait);
    const auto t1 = Clock::now();
    const std::uint64_t c1 = ipc::read_tsc();
    if (!r) throw common::Error(std::string("window receive: ") + ipc::to_string(r.error()));
    std::uint64_t sum = 0;
    const std::size_t trace_bytes = config_.trace ? 16 : 0;
    if (r->payload.size() != size_ + 8 + trace_bytes) throw common::Error("window: wrong response length");
    std::memcpy(&sum, r->payload.data(), 8);
    if (sum != expected_) throw common::Error("window: wrong checksum");
    if (config_.trace && recording_) {
      std::uint64_t guest[2];
      std::memcpy(guest, r->payload.data() + 8 + size_, 16);
      account(before, ipc::read_window_trace(sup_.shm().data()), {c0, c_sent, guest[0], guest[1], c1});
    }
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

  void set_recording(bool on) { recording_ = on; }
  [[nodiscard]] const Phases& phases() const noexcept { return phases_; }
  [[nodiscard]] pid_t pid() const noexcept { return child_; }

 private:
  /// TSC stamps of one round trip: client send (c0) → send returned incl. its FUTEX_WAKE (c_sent)
  /// → guest saw the request (g0) → guest about to push the response (g1) → client has it (c1).
  struct Stamps {
    std::uint64_t c0, c_sent, g0, g1, c1;
  };

  // One traced round trip, with the runner's stamps between: WAIT's futex wait returned and WAIT
  // answered ready (before g0), the exit that rings for the response reached the VMM (RESPONSE_READY
  // or WAIT) and the ports' FUTEX_WAKE of the client (after g1; a WAIT right after the push wakes
  // the client too).
  void account(const ipc::WindowTrace& a, const ipc::WindowTrace& b, const Stamps& t) {
    Phases& p = phases_;
    ++p.trips;
    p.waits += b.waits - a.waits;
    p.wait_parks += b.wait_parks - a.wait_parks;
    p.response_rings += b.response_rings - a.response_rings;
    p.supervisor_wakes += b.supervisor_wakes - a.supervisor_wakes;
    auto us = [this](std::uint64_t from, std::uint64_t to) { return static_cast<double>(to - from) / tsc_us_; };
    p.us["total"].push_back(us(t.c0, t.c1));
    p.us["1_client_send"].push_back(us(t.c0, t.c_sent));
    if (t.g0 < t.c0 || t.g1 < t.g0 || t.g1 > t.c1) {
      ++p.guest_tsc_outside;
      return;
    }
    const bool woken = b.wait_parks != a.wait_parks && b.wait_woken_tsc > t.c0 && b.wait_woken_tsc < t.g0;
    const bool ready = b.wait_ready_tsc > t.c0 && b.wait_ready_tsc < t.g0;
    if (woken) p.us["2_runner_wake"].push_back(us(t.c0, b.wait_woken_tsc));  // incl. the client's FUTEX_WAKE
    if (ready) p.us["3_vmm_return_to_guest"].push_back(us(b.wait_ready_tsc, t.g0));
    p.us["2to3_send_to_guest"].push_back(us(t.c0, t.g0));
    p.us["4_guest_work"].push_back(us(t.g0, t.g1));
    if (b.doorbell_exit_tsc > t.g1 && b.doorbell_exit_tsc < t.c1) {
      p.us["5_vm_exit"].push_back(us(t.g1, b.doorbell_exit_tsc));
    }
    const bool woke = b.supervisor_wakes != a.supervisor_wakes && b.wake_done_tsc > t.g1 && b.wake_done_tsc < t.c1;
    if (woke) {
      p.us["5_response_doorbell"].push_back(us(t.g1, b.wake_done_tsc));
      p.us["6_supervisor_wake"].push_back(us(b.wake_done_tsc, t.c1));
    }
    p.us["5to6_guest_to_client"].push_back(us(t.g1, t.c1));
  }

  WindowConfig config_;
  std::size_t size_;
  double tsc_us_;
  ipc::SupervisorChannel sup_;
  std::vector<std::uint8_t> request_;
  std::uint64_t expected_ = 0;
  ipc::WaitOptions wait_;
  std::uint64_t next_id_ = 0;
  pid_t child_ = 0;
  bool recording_ = false;
  Phases phases_;
};

/// CPU time of every thread of `pid` so far, in seconds: the sum of the first field of
/// /proc/PID/task/TID/schedstat (ns on the CPU; exact, unlike the tick-sampled utime/stime).
double cpu_seconds(pid_t pid) {
  double ns = 0;
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& task : std::filesystem::directory_iterator(tasks)) {
    std::ifstream in(task.path() / "schedstat");
    double on_cpu = 0;
    if (in >> on_cpu) ns += on_cpu;
  }
  return ns / 1e9;
}

/// kIdleRunners firerunners (`firerunner`, `guest`), each served `burst` back-to-back 64 B requests
/// with `client_spin`, then left idle: their CPU together over `window`, in % of one core.
double idle_cpu_pct(const std::string& firerunner, const std::string& guest, std::chrono::nanoseconds client_spin,
                    int burst, std::chrono::seconds window, double tsc_us, unsigned first_index) {
  std::vector<std::unique_ptr<WindowPeer>> runners;
  for (int i = 0; i < kIdleRunners; ++i) {
    WindowConfig c{.firerunner = firerunner, .guest = guest, .client_spin = client_spin};
    runners.push_back(std::make_unique<WindowPeer>(c, 64, first_index + static_cast<unsigned>(i), tsc_us));
    if (i % 20 == 19) std::printf("  idle CPU: %d runners up\n", i + 1);
    std::fflush(stdout);
  }
  // Each runner's CPU is read right after its own burst (so the spins' tail after the last request
  // counts) and again at the end; the rates are summed.
  std::vector<double> before(runners.size());
  std::vector<Clock::time_point> since(runners.size());
  for (std::size_t k = 0; k < runners.size(); ++k) {
    for (int i = 0; i < burst; ++i) (void)runners[k]->round_trip();
    before[k] = cpu_seconds(runners[k]->pid());
    since[k] = Clock::now();
  }
  std::this_thread::sleep_for(window);
  double pct = 0;
  const Clock::time_point end = Clock::now();
  for (std::size_t k = 0; k < runners.size(); ++k) {
    const double seconds = std::chrono::duration<double>(end - since[k]).count();
    pct += 100.0 * (cpu_seconds(runners[k]->pid()) - before[k]) / seconds;
  }
  for (auto& r : runners) r->stop();
  return pct;
}

void report_phases(const std::string& mode, std::size_t size, const Phases& p, nlohmann::json& j) {
  nlohmann::json out;
  out["trips"] = p.trips;
  if (p.trips == 0) return;
  const double n = static_cast<double>(p.trips);
  out["wait_exits_per_request"] = static_cast<double>(p.waits) / n;
  out["wait_parks_per_request"] = static_cast<double>(p.wait_parks) / n;
  out["response_ready_exits_per_request"] = static_cast<double>(p.response_rings) / n;
  out["supervisor_futex_wakes_per_request"] = static_cast<double>(p.supervisor_wakes) / n;
  out["guest_tsc_outside_trip"] = p.guest_tsc_outside;
  std::printf("%s %s: per request WAIT %.2f (parked %.2f) RESPONSE_READY %.2f client wakes %.2f; p50 us:", mode.c_str(),
              size_label(size).c_str(), static_cast<double>(p.waits) / n, static_cast<double>(p.wait_parks) / n,
              static_cast<double>(p.response_rings) / n, static_cast<double>(p.supervisor_wakes) / n);
  for (const auto& [phase, v] : p.us) {
    if (v.empty()) continue;
    out["p50_us"][phase] = bench::percentile(v, 0.5);
    out["share"][phase] = static_cast<double>(v.size()) / n;  // fraction of trips that had this phase
    std::printf(" %s %.2f", phase.c_str(), bench::percentile(v, 0.5));
  }
  std::printf("\n");
  j[mode + "_phases_" + size_label(size)] = out;
}

/// The part of a parked round trip that is one VM entry and one VM exit (the traced phases
/// 3_vmm_return_to_guest and 5_vm_exit of window_exit_driven, whose guest WAITs at once, p50 each),
/// and the highest Unix / parked ratio any parked path that enters and leaves the guest once per
/// request could reach on this host if every other step cost nothing: unix_expired's p50 over that
/// sum. Below 1.0, issue 20's parked target (ratio >= 1.0) is out of reach of this host's KVM.
void report_entry_exit_ceiling(const std::string& l, nlohmann::json& j) {
  const nlohmann::json& p50 = j["window_exit_driven_phases_" + l]["p50_us"];
  if (!p50.contains("3_vmm_return_to_guest") || !p50.contains("5_vm_exit")) {
    std::printf("parked %s: no traced VM entry or exit (stamps outside their trips): no ceiling\n", l.c_str());
    return;
  }
  const double entry = p50["3_vmm_return_to_guest"].get<double>();
  const double exit = p50["5_vm_exit"].get<double>();
  const double total = p50["total"].get<double>();
  j["parked_entry_exit_p50_us_" + l] = entry + exit;
  j["parked_entry_exit_share_" + l] = (entry + exit) / total;
  j["ceiling_unix_over_window_parked_p50_" + l] = j["unix_expired_p50_us_" + l].get<double>() / (entry + exit);
  std::printf("parked %s: VM entry %.1f + exit %.1f us = %.0f %% of the trip; ceiling unix/parked %.2fx\n", l.c_str(),
              entry, exit, 100.0 * (entry + exit) / total, j["ceiling_unix_over_window_parked_p50_" + l].get<double>());
}

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
      {"request_rtt",
       "Request round trip: channel + guest ring window (polling; parked within / after the spin windows) vs Unix "
       "domain socket",
       "few iterations"},
      [](bool quick, nlohmann::json& j) {
        const bool pin = std::thread::hardware_concurrency() >= 2;
        const int warmup = quick ? 50 : 500;
        const double tsc_us = tsc_per_us();
        const std::string dir = SNAPFAAS_GUEST_DIR;
        const char* baseline = std::getenv("SNAPFAAS_BASELINE_BUILD");
        std::vector<bench::Series> series;
        std::vector<std::pair<std::string, WindowPeer*>> traced;  // mode, peer
        unsigned index = 0;
        auto window = [&](const char* mode, std::size_t size, int iterations, bool pin_client, WindowConfig c,
                          int gap) {
          const bool trace = c.trace;
          auto peer = std::make_unique<WindowPeer>(std::move(c), size, index++, tsc_us);
          if (trace) traced.emplace_back(mode, peer.get());
          series.push_back({mode, size, iterations, pin_client, std::move(peer), {}, gap});
        };
        auto unix_peer = [&](const char* mode, std::size_t size, int iterations, int gap) {
          series.push_back({mode, size, iterations, false, std::make_unique<ChecksumUnixPeer>(size), {}, gap});
        };
        for (std::size_t size : bench::kPayloadSizes) {
          const int iterations = quick ? (size > 1024 ? 300 : 1000) : (size > 1024 ? 3000 : 20000);
          const int sparse = quick ? (size > 1024 ? 150 : 400) : (size > 1024 ? 1000 : 4000);
          window("window", size, iterations, pin,
                 {.guest = dir + "/guest_window_checksum",
                  .client_spin = std::chrono::microseconds(500),
                  .client_yield = false,
                  .pin = true},
                 0);
          window("window_parked_within", size, iterations, false,
                 {.guest = dir + "/guest_window_checksum_trace", .client_spin = kClientSpin, .trace = true},
                 kWithinGapUs);
          window("window_parked_expired", size, sparse, false,
                 {.guest = dir + "/guest_window_checksum_trace", .client_spin = kClientSpin, .trace = true},
                 kExpiredGapUs);
          if (pin) {  // is the VM entry after a park slower when the vCPU thread wakes on another CPU?
            window("window_parked_expired_pinned", size, sparse, true,
                   {.guest = dir + "/guest_window_checksum_trace", .client_spin = kClientSpin, .pin = true, .trace = true},
                   kExpiredGapUs);
          }
          window("window_exit_driven", size, sparse, false,
                 {.guest = dir + "/guest_window_checksum_park_trace", .client_spin = kClientSpin, .trace = true},
                 kExpiredGapUs);
          if (baseline != nullptr) {
            window("window_parked_before", size, sparse, false,
                   {.firerunner = std::string(baseline) + "/runner/firerunner",
                    .guest = std::string(baseline) + "/tests/guests/guest_window_checksum_park"},
                   kExpiredGapUs);
          }
          unix_peer("unix", size, iterations, 0);
          unix_peer("unix_within", size, iterations, kWithinGapUs);
          unix_peer("unix_expired", size, sparse, kExpiredGapUs);
        }
        // Warm-up (with each series' gap, so the adaptive spins settle as they would) is not traced.
        for (bench::Series& s : series) {
          for (int i = 0; i < warmup; ++i) {
            bench::idle_gap(s.gap_us);
            (void)s.peer->round_trip();
          }
        }
        for (auto& [mode, peer] : traced) peer->set_recording(true);
        bench::run_interleaved(series, 0);

        j["window_pinned_cpu0_cpu1"] = pin;
        j["within_gap_us"] = kWithinGapUs;
        j["expired_gap_us"] = kExpiredGapUs;
        j["client_spin_us"] = std::chrono::duration<double, std::micro>(kClientSpin).count();
        j["tsc_mhz"] = tsc_us;
        j["machine"] = bench::machine_info();
        j["baseline_build"] = baseline != nullptr ? nlohmann::json(baseline) : nlohmann::json(nullptr);
        j["keys_notes"] =
            "window_parked_within: request " + std::to_string(kWithinGapUs) +
            " us after the previous response (inside the spin windows); window_parked_expired: " +
            std::to_string(kExpiredGapUs) +
            " us after (every spin ran out, runner parked on the futex): ratio_unix_over_window_parked_* is "
            "this after-expiry case, against unix_expired (same gap); *_within against unix_within; "
            "ratio_unix_b2b_over_window_parked_expired_* against back-to-back unix";
        bench::report_series(series, j);
        for (std::size_t i = 0, t = 0; i < series.size(); ++i) {
          if (t < traced.size() && series[i].peer.get() == traced[t].second) {
            report_phases(traced[t].first, series[i].size, traced[t].second->phases(), j);
            ++t;
          }
        }
        for (std::size_t size : bench::kPayloadSizes) {
          const std::string l = size_label(size);
          for (const char* q : {"p50", "p99"}) {
            auto v = [&](const std::string& mode) { return j[mode + "_" + q + "_us_" + l].get<double>(); };
            auto ratio = [&](const std::string& name, double value) { j["ratio_" + name + "_" + q + "_" + l] = value; };
            ratio("unix_over_window", v("unix") / v("window"));
            ratio("unix_over_window_parked_within", v("unix_within") / v("window_parked_within"));
            ratio("unix_over_window_parked_expired", v("unix_expired") / v("window_parked_expired"));
            ratio("unix_over_window_parked", v("unix_expired") / v("window_parked_expired"));
            ratio("unix_b2b_over_window_parked_expired", v("unix") / v("window_parked_expired"));
            ratio("unix_over_window_exit_driven", v("unix_expired") / v("window_exit_driven"));
            if (pin) ratio("unix_over_window_parked_expired_pinned", v("unix_expired") / v("window_parked_expired_pinned"));
            if (baseline != nullptr) {
              ratio("unix_over_window_parked_before", v("unix_expired") / v("window_parked_before"));
              ratio("window_parked_before_over_expired", v("window_parked_before") / v("window_parked_expired"));
            }
          }
          std::printf("unix/window p50 %-6s polling %6.2fx  parked within %6.2fx  parked expired %6.2fx  exit-driven "
                      "%6.2fx",
                      l.c_str(), j["ratio_unix_over_window_p50_" + l].get<double>(),
                      j["ratio_unix_over_window_parked_within_p50_" + l].get<double>(),
                      j["ratio_unix_over_window_parked_expired_p50_" + l].get<double>(),
                      j["ratio_unix_over_window_exit_driven_p50_" + l].get<double>());
          if (baseline != nullptr) {
            std::printf("  parked before %6.2fx", j["ratio_unix_over_window_parked_before_p50_" + l].get<double>());
          }
          std::printf("\n");
          report_entry_exit_ceiling(l, j);
        }
        const auto idle_window = std::chrono::seconds(quick ? 3 : 10);
        const int burst = quick ? 200 : 1000;
        std::printf("idle CPU: starting %d runners\n", kIdleRunners);
        j["idle_cpu_pct_100_runners"] = idle_cpu_pct(SNAPFAAS_FIRERUNNER, dir + "/guest_window_checksum", kClientSpin,
                                                     burst, idle_window, tsc_us, 1000);
        j["idle_cpu_notes"] = std::to_string(kIdleRunners) +
                              " firerunners with the default ring-3 checksum guest, each served " +
                              std::to_string(burst) +
                              " back-to-back 64 B requests, then idle: their CPU time together (schedstat of all "
                              "threads, from right after each runner's burst, incl. the spins' tail) over at least " +
                              std::to_string(idle_window.count()) + " s, in % of one core";
        std::printf("idle CPU of %d runners after a burst: %.3f %% of one core", kIdleRunners,
                    j["idle_cpu_pct_100_runners"].get<double>());
        if (baseline != nullptr) {
          j["idle_cpu_pct_100_runners_before"] =
              idle_cpu_pct(std::string(baseline) + "/runner/firerunner",
                           std::string(baseline) + "/tests/guests/guest_window_checksum", kClientSpin, burst,
                           idle_window, tsc_us, 2000);
          std::printf(" (before: %.3f %%)", j["idle_cpu_pct_100_runners_before"].get<double>());
        }
        std::printf("\n");
      });
}
