// WorkloadSource: replays a workload (workload.h) open-loop — request i is due at the start time
// plus its `time` ms, whatever the answers to earlier ones.
#pragma once

#include <vector>

#include "supervisor/request_source.h"
#include "supervisor/workload.h"

namespace snapfaas::supervisor {

class WorkloadSource final : public RequestSource {
 public:
  /// `workload` must outlive the source and be sorted by time (read_workload guarantees it).
  WorkloadSource(const std::vector<WorkloadRequest>& workload, Clock::time_point start) noexcept
      : workload_(workload), start_(start) {}

  void poll(Clock::time_point now, const Submit& submit) override;
  [[nodiscard]] Clock::time_point next_due() const noexcept override;
  [[nodiscard]] bool exhausted() const noexcept override { return next_ >= workload_.size(); }
  std::uint64_t stop() noexcept override;

 private:
  [[nodiscard]] Clock::time_point due(std::size_t i) const noexcept {
    return start_ + std::chrono::milliseconds(workload_[i].time_ms);
  }

  const std::vector<WorkloadRequest>& workload_;
  Clock::time_point start_;
  std::size_t next_ = 0;
};

}  // namespace snapfaas::supervisor
