// HttpSource: the HTTP threads' inbox of the event loop (see http_source.h).
#include "supervisor/http_source.h"

namespace snapfaas::supervisor {

bool HttpSource::push(Invocation&& invocation) {
  {
    const std::lock_guard lock(mutex_);
    if (stopped_.load(std::memory_order_relaxed)) return false;  // stop() stores it under this mutex
    inbox_.push_back(std::move(invocation));
    pending_.store(true, std::memory_order_release);  // pairs with ready()'s acquire load
  }
  bell_.ring();  // FUTEX_WAKE only when the loop is parked (or about to)
  return true;
}

void HttpSource::poll(Clock::time_point, const Submit& submit) {
  if (!pending_.load(std::memory_order_acquire)) return;  // pairs with push's release store
  {
    const std::lock_guard lock(mutex_);
    taken_.swap(inbox_);
    pending_.store(false, std::memory_order_relaxed);  // under the mutex: a later push sets it again
  }
  for (Invocation& invocation : taken_) submit(std::move(invocation));
  taken_.clear();
}

void HttpSource::discard() noexcept {
  std::vector<Invocation> dropped;
  {
    const std::lock_guard lock(mutex_);
    dropped.swap(inbox_);
    pending_.store(false, std::memory_order_relaxed);
  }
}

bool HttpSource::exhausted() const noexcept {
  return stopped_.load(std::memory_order_acquire) && !pending_.load(std::memory_order_acquire);
}

std::uint64_t HttpSource::stop() noexcept {
  {
    const std::lock_guard lock(mutex_);
    if (stopped_.load(std::memory_order_relaxed)) return 0;
    stopped_.store(true, std::memory_order_release);
  }
  if (on_stop_) on_stop_();
  return 0;
}

}  // namespace snapfaas::supervisor
