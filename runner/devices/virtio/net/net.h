// Net: a virtio-net device (virtio 1.x §5.1) backed by a tap: receive queue 0 filled by an rx
// thread (epoll on the tap fd), transmit queue 1 drained inline on QueueNotify, the MAC in the
// config space, interrupts once per batch and only when the driver asks (NO_INTERRUPT/EVENT_IDX).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <sys/uio.h>
#include <thread>
#include <vector>

#include "common/unique_fd.h"
#include "runner/devices/virtio/net/frame.h"
#include "runner/devices/virtio/net/mac_address.h"
#include "runner/devices/virtio/net/net_state.h"
#include "runner/devices/virtio/net/tap.h"
#include "runner/devices/virtio/virtio_device.h"

namespace snapfaas::runner::virtio::net {

/// Device ID of a network card (§5).
inline constexpr std::uint32_t kDeviceTypeNet = 1;
/// Feature bits of virtio-net (§5.1.3).
inline constexpr unsigned kFeatureMac = 5;  // VIRTIO_NET_F_MAC (offload bits: frame.h)
/// What the device offers: VERSION_1, INDIRECT_DESC, EVENT_IDX, MAC and the transmit offloads
/// CSUM, HOST_TSO4, HOST_TSO6. No receive offloads: the tap stays at TUNSETOFFLOAD 0.
inline constexpr std::uint64_t kNetFeatures =
    (1ull << kFeatureVersion1) | (1ull << kFeatureRingIndirectDesc) | (1ull << kFeatureRingEventIdx) |
    (1ull << kFeatureMac) | (1ull << kFeatureCsum) | (1ull << kFeatureHostTso4) | (1ull << kFeatureHostTso6);
/// What the device offered before the transmit offloads: snapshots saved then still restore
/// (the restored device offers what its guest negotiated against).
inline constexpr std::uint64_t kNetFeaturesNoOffload =
    (1ull << kFeatureVersion1) | (1ull << kFeatureRingIndirectDesc) | (1ull << kFeatureRingEventIdx) |
    (1ull << kFeatureMac);
/// Queue indices and their maximum size.
inline constexpr std::size_t kRxQueue = 0;
inline constexpr std::size_t kTxQueue = 1;
inline constexpr std::uint16_t kQueueSize = 256;

/// How to attach the device.
struct NetConfig {
  std::string tap_name;  ///< tap in the caller's network namespace (created if absent)
  MacAddress mac{};      ///< the guest's MAC (config space)
  std::uint64_t features = kNetFeatures;  ///< offered: kNetFeatures or kNetFeaturesNoOffload
};

/// Counters for tests and logs (relaxed atomics: statistics only).
struct NetCounters {
  std::atomic<std::uint64_t> rx_frames{0};
  std::atomic<std::uint64_t> tx_frames{0};
  std::atomic<std::uint64_t> rx_dropped{0};  ///< frames the guest had no fitting buffer for
  std::atomic<std::uint64_t> tx_dropped{0};  ///< malformed chains, refused headers, tap write errors
  std::atomic<std::uint64_t> tx_bad_header{0};  ///< of tx_dropped: headers validate_tx_header refused
  std::atomic<std::uint64_t> interrupts{0};
};

/// virtio-net over one tap. Threads: the transport calls the VirtioDevice methods under its lock
/// (vCPU threads); the device's own rx thread (start_rx) delivers frames. Both take mu_, which guards the
/// queues, guest-memory access and the pending frame (lock order: transport lock, then mu_).
/// pause() stops every guest-memory write by the rx thread until resume(): the VMM pauses the
/// device (with the vCPUs) before it saves state or memory.
class Net final : public VirtioDevice {
 public:
  /// Opens the tap; no thread yet (start_rx). Throws common::Error (also for config.features
  /// other than kNetFeatures and kNetFeaturesNoOffload).
  explicit Net(NetConfig config);
  /// Same on an already open tap (config.tap_name is ignored: the tap's name counts). No thread.
  Net(NetConfig config, Tap tap);
  ~Net() override;
  Net(const Net&) = delete;
  Net& operator=(const Net&) = delete;

  [[nodiscard]] std::uint32_t device_type() const noexcept override { return kDeviceTypeNet; }
  [[nodiscard]] std::uint64_t features() const noexcept override;
  [[nodiscard]] std::span<const std::uint16_t> queue_max_sizes() const noexcept override;
  void read_config(std::uint64_t offset, std::span<std::uint8_t> data) const noexcept override;
  void write_config(std::uint64_t offset, std::span<const std::uint8_t> data) noexcept override;
  void activate(const GuestMemory& mem, std::span<Queue> queues, std::uint64_t acked,
                std::shared_ptr<VirtioInterrupt> irq) override;
  [[nodiscard]] bool process_queue(std::size_t index) noexcept override;
  void reset() noexcept override;

  /// Starts the rx thread (idle until activate()). It runs `thread_init` before anything else
  /// (firerunner installs the receive role's seccomp program there: the thread reads tap frames
  /// into guest memory); if that throws, the thread logs it and receives nothing. Once only;
  /// setup thread.
  void start_rx(std::function<void()> thread_init);
  [[nodiscard]] bool rx_started() const noexcept { return rx_thread_.joinable(); }

  /// Stops guest-memory writes by the rx thread; returns once none is in progress. Frames keep
  /// queueing in the tap (the kernel drops beyond its queue length). Any thread.
  void pause() noexcept;
  /// Undoes pause() and delivers what queued meanwhile. Any thread.
  void resume() noexcept;

  [[nodiscard]] const NetCounters& counters() const noexcept { return counters_; }
  [[nodiscard]] const std::string& tap_name() const noexcept { return tap_.name(); }
  [[nodiscard]] const MacAddress& mac() const noexcept { return config_.mac; }

  /// Stops the rx thread and hands the tap over (a tap without IFF_MULTI_QUEUE takes one fd:
  /// a snapshot restore moves it from the device the VM was built with to the restored one). The
  /// device must not be active; it is useless afterwards. Throws common::Error if active.
  [[nodiscard]] Tap detach_tap();

  [[nodiscard]] NetState save() const;
  /// Rebuilds the device of a snapshot on `tap`: the tap of the restoring VM's own --network (a
  /// snapshot never names the tap it gets; the state's tap name is a label). The MAC is the
  /// snapshot's (the guest read it at boot). The device offers the snapshot's features
  /// (kNetFeaturesNoOffload for snapshots saved before the transmit offloads). Throws
  /// common::Error when the features are neither of the known sets.
  static std::unique_ptr<Net> restore(const NetState& state, Tap tap);

 private:
  void setup();
  void stop_rx_thread() noexcept;
  void rx_loop(const std::function<void()>& thread_init) noexcept;
  void kick() noexcept;
  void arm_tap(bool on) noexcept;
  /// Delivers pending/queued frames into the rx queue (mu_ held). False if the queue broke.
  bool rx_pass_locked() noexcept;
  bool tx_pass_locked() noexcept;
  void notify_locked(Queue& q) noexcept;

  NetConfig config_;
  Tap tap_;
  common::UniqueFd epoll_;
  common::UniqueFd kick_;  // eventfd: wakes the rx thread (stop, resume)
  std::atomic<bool> stop_{false};
  NetCounters counters_;

  std::mutex mu_;
  const GuestMemory* mem_ = nullptr;  // set by activate(), cleared by reset()
  std::uint64_t acked_ = 0;           // the driver's features (set by activate())
  std::span<Queue> queues_;
  std::shared_ptr<VirtioInterrupt> irq_;
  bool paused_ = false;
  bool tap_armed_ = false;  // EPOLLIN on the tap is registered
  bool rx_broken_ = false;
  std::uint32_t pending_len_ = 0;  // a frame read from the tap and not yet delivered
  std::vector<std::uint8_t> rx_frame_;
  std::vector<iovec> tx_iov_;
  TxFrame tx_frame_;  // header copy tx_iov_[0] points to
  DescriptorChain rx_chain_;
  DescriptorChain tx_chain_;

  std::thread rx_thread_;  // last: started (start_rx) once everything above exists
};

}  // namespace snapfaas::runner::virtio::net
