// WorkloadSource: open-loop replay by time (see workload_source.h).
#include "supervisor/workload_source.h"

namespace snapfaas::supervisor {

void WorkloadSource::poll(Clock::time_point now, const Submit& submit) {
  for (; next_ < workload_.size() && due(next_) <= now; ++next_) {
    const WorkloadRequest& w = workload_[next_];
    submit({w.function, w.payload, w.user_id, {}});
  }
}

RequestSource::Clock::time_point WorkloadSource::next_due() const noexcept {
  return exhausted() ? Clock::time_point::max() : due(next_);
}

std::uint64_t WorkloadSource::stop() noexcept {
  const std::uint64_t left = workload_.size() - next_;
  next_ = workload_.size();
  return left;
}

}  // namespace snapfaas::supervisor
