// Net: virtio-net queue processing (rx pass, tx pass), the rx thread, pause/resume, save/restore.
#include "runner/devices/virtio/net/net.h"

#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "common/error.h"
#include "common/log_limit.h"
#include "runner/devices/virtio/net/frame.h"

namespace snapfaas::runner::virtio::net {
namespace {

constexpr std::array<std::uint16_t, 2> kQueueSizes{kQueueSize, kQueueSize};
constexpr std::size_t kConfigSize = 8;  // mac[6], status (§5.1.4)
constexpr std::uint16_t kStatusLinkUp = 1;
constexpr std::uint32_t kTagKick = 0;
constexpr std::uint32_t kTagTap = 1;
// Frames delivered per rx pass before the lock is released (tx and pause wait at most this long).
constexpr int kRxBudget = 64;
constexpr std::size_t kNumBuffersOffset = 10;  // virtio_net_hdr_v1.num_buffers

}  // namespace

Net::Net(NetConfig config) : config_(std::move(config)), tap_(config_.tap_name) { setup(); }

Net::Net(NetConfig config, Tap tap) : config_(std::move(config)), tap_(std::move(tap)) {
  config_.tap_name = tap_.name();
  setup();
}

void Net::setup() {
  const std::string what = "virtio-net tap " + config_.tap_name;
  if (config_.features != kNetFeatures && config_.features != kNetFeaturesNoOffload) {
    throw common::Error(what + ": unknown feature set to offer");
  }
  epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_) throw common::sys_error("epoll_create1 for " + what);
  kick_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!kick_) throw common::sys_error("eventfd for " + what);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u32 = kTagKick;
  common::check_sys(::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, kick_.get(), &ev), "epoll_ctl eventfd for " + what);
  ev.events = 0;  // armed by activate()
  ev.data.u32 = kTagTap;
  common::check_sys(::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, tap_.fd(), &ev), "epoll_ctl for " + what);
  rx_frame_.resize(kMaxFrameLen);
  tx_iov_.reserve(kQueueSize + 1);
  rx_chain_.buffers.reserve(kQueueSize);
  tx_chain_.buffers.reserve(kQueueSize);
}

void Net::start_rx(std::function<void()> thread_init) {
  if (rx_thread_.joinable()) throw common::Error("virtio-net tap " + tap_.name() + ": receive thread started twice");
  rx_thread_ = std::thread([this, init = std::move(thread_init)] { rx_loop(init); });
}

Net::~Net() { stop_rx_thread(); }

void Net::stop_rx_thread() noexcept {
  // Release: pairs with the acquire load in rx_loop after the eventfd wakes it.
  stop_.store(true, std::memory_order_release);
  kick();
  if (rx_thread_.joinable()) rx_thread_.join();
}

Tap Net::detach_tap() {
  {
    std::lock_guard lock(mu_);
    if (mem_ != nullptr) throw common::Error("virtio-net tap " + tap_.name() + ": cannot hand over the tap of an active device");
  }
  stop_rx_thread();
  (void)::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, tap_.fd(), nullptr);
  tap_armed_ = false;
  return std::move(tap_);
}

std::uint64_t Net::features() const noexcept { return config_.features; }

std::span<const std::uint16_t> Net::queue_max_sizes() const noexcept { return kQueueSizes; }

void Net::read_config(std::uint64_t offset, std::span<std::uint8_t> data) const noexcept {
  std::array<std::uint8_t, kConfigSize> cfg{};
  std::memcpy(cfg.data(), config_.mac.data(), config_.mac.size());
  std::memcpy(cfg.data() + 6, &kStatusLinkUp, 2);  // read only with VIRTIO_NET_F_STATUS; harmless
  for (std::size_t i = 0; i < data.size(); ++i) {
    data[i] = offset < kConfigSize && i < kConfigSize - offset ? cfg[offset + i] : 0;
  }
}

void Net::write_config(std::uint64_t offset, std::span<const std::uint8_t> data) noexcept {
  // §5.1.4.2: a VERSION_1 driver must not write the MAC; legacy-style writes are ignored.
  SNAPFAAS_LIMITED_LOG(spdlog::level::debug, "virtio-net: {}-byte config write at {:#x} ignored", data.size(), offset);
}

void Net::activate(const GuestMemory& mem, std::span<Queue> queues, std::uint64_t acked,
                   std::shared_ptr<VirtioInterrupt> irq) {
  if (queues.size() != kQueueSizes.size()) throw common::Error("activate virtio-net: wrong number of queues");
  if (!queues[kRxQueue].ready() || !queues[kTxQueue].ready()) {
    throw common::Error("activate virtio-net: receive and transmit queues must both be ready");
  }
  std::lock_guard lock(mu_);
  mem_ = &mem;
  acked_ = acked;
  queues_ = queues;
  irq_ = std::move(irq);
  rx_broken_ = false;
  pending_len_ = 0;
  if (!paused_) {
    arm_tap(true);
    kick();
  }
}

void Net::reset() noexcept {
  std::lock_guard lock(mu_);
  mem_ = nullptr;
  acked_ = 0;
  queues_ = {};
  irq_.reset();
  pending_len_ = 0;
  rx_broken_ = false;
  arm_tap(false);
}

bool Net::process_queue(std::size_t index) noexcept {
  std::lock_guard lock(mu_);
  if (mem_ == nullptr || index >= queues_.size()) return true;
  if (index == kTxQueue) return tx_pass_locked();
  if (rx_broken_) return false;
  // The driver posted receive buffers: deliver the pending frame and whatever the tap holds.
  if (!rx_pass_locked()) rx_broken_ = true;
  return !rx_broken_;
}

void Net::pause() noexcept {
  std::lock_guard lock(mu_);  // waits for an rx pass in progress: none runs once this returns
  paused_ = true;
  arm_tap(false);
}

void Net::resume() noexcept {
  std::lock_guard lock(mu_);
  paused_ = false;
  if (mem_ != nullptr && !rx_broken_) {
    arm_tap(true);
    kick();
  }
}

void Net::kick() noexcept {
  const std::uint64_t one = 1;
  if (::write(kick_.get(), &one, sizeof one) < 0 && errno != EAGAIN) {
    SNAPFAAS_LIMITED_LOG(spdlog::level::warn, "virtio-net {}: eventfd write: {}", tap_.name(), std::strerror(errno));
  }
}

void Net::arm_tap(bool on) noexcept {
  if (tap_armed_ == on) return;
  epoll_event ev{};
  ev.events = on ? static_cast<std::uint32_t>(EPOLLIN) : 0u;
  ev.data.u32 = kTagTap;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, tap_.fd(), &ev) != 0) {
    SNAPFAAS_LIMITED_LOG(spdlog::level::warn, "virtio-net {}: epoll_ctl: {}", tap_.name(), std::strerror(errno));
    return;
  }
  tap_armed_ = on;
}

void Net::rx_loop(const std::function<void()>& thread_init) noexcept {
  if (thread_init) {
    try {
      thread_init();
    } catch (const std::exception& e) {
      spdlog::error("virtio-net {}: receive thread set-up failed: {}; receive stopped", tap_.name(), e.what());
      return;
    }
  }
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);  // signals belong to the VMM and vCPU threads
  std::array<epoll_event, 2> evs{};
  for (;;) {
    const int n = ::epoll_wait(epoll_.get(), evs.data(), static_cast<int>(evs.size()), -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      spdlog::error("virtio-net {}: epoll_wait: {}; receive stopped", tap_.name(), std::strerror(errno));
      return;
    }
    for (int i = 0; i < n; ++i) {
      if (evs[static_cast<std::size_t>(i)].data.u32 == kTagKick) {
        std::uint64_t v;
        (void)!::read(kick_.get(), &v, sizeof v);
      }
    }
    // Acquire: pairs with the release store in ~Net.
    if (stop_.load(std::memory_order_acquire)) return;
    std::lock_guard lock(mu_);
    if (mem_ != nullptr && !rx_broken_ && !rx_pass_locked()) {
      rx_broken_ = true;
      arm_tap(false);
      SNAPFAAS_LIMITED_LOG(spdlog::level::warn, "virtio-net {}: receive queue broken; receive stopped until the driver resets", tap_.name());
    }
  }
}

bool Net::rx_pass_locked() noexcept {
  if (paused_ || mem_ == nullptr) {
    arm_tap(false);
    return true;
  }
  Queue& q = queues_[kRxQueue];
  bool used = false;
  bool healthy = true;
  int budget = kRxBudget;
  for (; budget > 0; --budget) {
    if (pending_len_ == 0) {
      const long n = tap_.read_frame(rx_frame_);
      if (n == -EAGAIN) {
        arm_tap(true);  // drained: wait for the next frame
        break;
      }
      if (n < 0) {
        SNAPFAAS_LIMITED_LOG(spdlog::level::warn, "virtio-net {}: read: {}", tap_.name(), std::strerror(static_cast<int>(-n)));
        arm_tap(false);
        break;
      }
      if (static_cast<std::size_t>(n) <= kVnetHdrLen) {
        counters_.rx_dropped.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      // No offloads were negotiated: the guest sees a zero header with num_buffers = 1 (§5.1.6.4).
      std::memset(rx_frame_.data(), 0, kVnetHdrLen);
      rx_frame_[kNumBuffersOffset] = 1;
      pending_len_ = static_cast<std::uint32_t>(n);
    }
    const PopStatus s = q.pop(*mem_, rx_chain_);
    if (s == PopStatus::kEmpty) {
      if (q.enable_notification(*mem_)) continue;  // buffers arrived meanwhile
      arm_tap(false);  // no buffers: keep the frame until the driver posts some (QueueNotify 0)
      break;
    }
    if (s == PopStatus::kOk) {
      std::uint32_t written = 0;
      const FrameError e = scatter_rx(*mem_, rx_chain_, std::span(rx_frame_.data(), pending_len_), written);
      if (e == FrameError::kNone) {
        counters_.rx_frames.fetch_add(1, std::memory_order_relaxed);
      } else {
        SNAPFAAS_LIMITED_LOG(spdlog::level::debug, "virtio-net {}: dropping a {}-byte frame (head {}): {}", tap_.name(), pending_len_,
                      rx_chain_.head, to_string(e));
        counters_.rx_dropped.fetch_add(1, std::memory_order_relaxed);
        written = 0;
      }
      pending_len_ = 0;
      if (!q.add_used(*mem_, rx_chain_.head, written)) {
        healthy = false;
        break;
      }
      used = true;
      continue;
    }
    if (is_chain_error(s)) {
      SNAPFAAS_LIMITED_LOG(spdlog::level::warn, "virtio-net {}: bad receive chain (head {}): {}", tap_.name(), rx_chain_.head, to_string(s));
      if (head_returnable(s)) {
        if (!q.add_used(*mem_, rx_chain_.head, 0)) {
          healthy = false;
          break;
        }
        used = true;
      }
      continue;
    }
    SNAPFAAS_LIMITED_LOG(spdlog::level::warn, "virtio-net {}: receive queue broken: {}", tap_.name(), to_string(s));
    healthy = false;
    break;
  }
  if (budget == 0) kick();  // more may be waiting (or a frame is pending): run another pass
  if (used) notify_locked(q);
  return healthy;
}

bool Net::tx_pass_locked() noexcept {
  Queue& q = queues_[kTxQueue];
  bool used = false;
  bool healthy = true;
  for (;;) {
    const PopStatus s = q.pop(*mem_, tx_chain_);
    if (s == PopStatus::kEmpty) {
      if (q.enable_notification(*mem_)) continue;
      break;
    }
    if (s == PopStatus::kOk) {
      const FrameError e = gather_tx(*mem_, tx_chain_, acked_, tx_iov_, tx_frame_);
      if (e == FrameError::kBadHeader) {
        // Debug only: a guest could flood the log. Counted; the chain goes back to the guest.
        SNAPFAAS_LIMITED_LOG(spdlog::level::debug, "virtio-net {}: dropping transmit frame (head {}): {}", tap_.name(), tx_chain_.head,
                      to_string(tx_frame_.header_error));
        counters_.tx_bad_header.fetch_add(1, std::memory_order_relaxed);
        counters_.tx_dropped.fetch_add(1, std::memory_order_relaxed);
      } else if (e != FrameError::kNone) {
        SNAPFAAS_LIMITED_LOG(spdlog::level::warn, "virtio-net {}: dropping transmit chain (head {}): {}", tap_.name(), tx_chain_.head,
                     to_string(e));
        counters_.tx_dropped.fetch_add(1, std::memory_order_relaxed);
      } else if (const long n = tap_.write_frame(tx_iov_); n < 0) {
        SNAPFAAS_LIMITED_LOG(spdlog::level::debug, "virtio-net {}: write: {}", tap_.name(), std::strerror(static_cast<int>(-n)));
        counters_.tx_dropped.fetch_add(1, std::memory_order_relaxed);
      } else {
        counters_.tx_frames.fetch_add(1, std::memory_order_relaxed);
      }
      if (!q.add_used(*mem_, tx_chain_.head, 0)) {  // §5.1.6.2: the device writes nothing on tx
        healthy = false;
        break;
      }
      used = true;
      continue;
    }
    if (is_chain_error(s)) {
      SNAPFAAS_LIMITED_LOG(spdlog::level::warn, "virtio-net {}: bad transmit chain (head {}): {}", tap_.name(), tx_chain_.head, to_string(s));
      counters_.tx_dropped.fetch_add(1, std::memory_order_relaxed);
      if (head_returnable(s)) {
        if (!q.add_used(*mem_, tx_chain_.head, 0)) {
          healthy = false;
          break;
        }
        used = true;
      }
      continue;
    }
    SNAPFAAS_LIMITED_LOG(spdlog::level::warn, "virtio-net {}: transmit queue broken: {}", tap_.name(), to_string(s));
    healthy = false;
    break;
  }
  if (used) notify_locked(q);
  return healthy;
}

void Net::notify_locked(Queue& q) noexcept {
  if (!q.needs_notification(*mem_)) return;
  counters_.interrupts.fetch_add(1, std::memory_order_relaxed);
  irq_->signal_used();
}

NetState Net::save() const { return NetState{tap_.name(), config_.mac, features()}; }

std::unique_ptr<Net> Net::restore(const NetState& state, Tap tap) {
  if (state.features != kNetFeatures && state.features != kNetFeaturesNoOffload) {
    throw common::Error("restore virtio-net tap " + state.tap_name +
                        ": snapshot features are not a set this device offers");
  }
  return std::make_unique<Net>(NetConfig{tap.name(), state.mac, state.features}, std::move(tap));
}

}  // namespace snapfaas::runner::virtio::net
