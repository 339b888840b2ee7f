// HttpSource: the RequestSource the HTTP front end (http_server.h) feeds. HTTP threads push
// invocations; the event loop takes them in poll(). The hand-off is a mutex-guarded inbox plus a
// doorbell over a private word (ipc::Doorbell: the loop parks on it in ipc::wait_any with its
// runners' doorbells), rung after each push, so a request arriving over HTTP is dispatched at
// once, not at the loop's next timer. Completions go back through each Invocation's on_done.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <vector>

#include "ipc/channel_layout.h"
#include "ipc/doorbell.h"
#include "supervisor/request_source.h"

namespace snapfaas::supervisor {

class HttpSource final : public RequestSource {
 public:
  /// `on_stop` runs on the loop thread when the loop stops the source (drain): the server stops
  /// accepting connections.
  explicit HttpSource(std::function<void()> on_stop = {}) : on_stop_(std::move(on_stop)) {}
  HttpSource(const HttpSource&) = delete;
  HttpSource& operator=(const HttpSource&) = delete;

  // ---- any thread (HTTP threads) ----
  /// Queues `invocation` and rings the loop's doorbell. False once the source is stopped (nothing
  /// queued: the caller answers "draining").
  [[nodiscard]] bool push(Invocation&& invocation);
  [[nodiscard]] bool stopped() const noexcept { return stopped_.load(std::memory_order_acquire); }

  // ---- the event-loop thread ----
  void poll(Clock::time_point now, const Submit& submit) override;
  [[nodiscard]] Clock::time_point next_due() const noexcept override { return Clock::time_point::max(); }
  /// Stopped and nothing left to submit.
  [[nodiscard]] bool exhausted() const noexcept override;
  /// Refuses further pushes; what was accepted before is still submitted (and answered): 0.
  std::uint64_t stop() noexcept override;
  void doorbells(std::vector<ipc::Doorbell*>& out) override { out.push_back(&bell_); }
  /// Drops what is queued and was never submitted (after the loop ended early: second signal),
  /// releasing the connections their completions hold.
  void discard() noexcept;
  [[nodiscard]] bool ready() const noexcept override { return pending_.load(std::memory_order_acquire); }

 private:
  std::mutex mutex_;
  std::vector<Invocation> inbox_;  // guarded by mutex_
  std::vector<Invocation> taken_;  // loop thread only (swapped with inbox_)
  // Set (release, under the mutex) by push after queuing, cleared by poll under the mutex; the
  // loop's ready() loads it (acquire). push's ring() has a SEQ_CST fence that pairs with
  // wait_any's: either the loop's re-check sees pending_ or push sees it sleeping and wakes it.
  std::atomic<bool> pending_{false};
  std::atomic<bool> stopped_{false};  // release store under the mutex by stop(); acquire loads
  ipc::DoorbellWord word_{};          // process-private: only this process's threads use it
  ipc::Doorbell bell_{&word_};
  std::function<void()> on_stop_;
};

}  // namespace snapfaas::supervisor
