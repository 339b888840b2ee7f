// SourceSet: several RequestSources as one (the workload file and the HTTP front end at once), so
// that the event loop still takes exactly one source. Exhausted when every member is.
#pragma once

#include <vector>

#include "supervisor/request_source.h"

namespace snapfaas::supervisor {

class SourceSet final : public RequestSource {
 public:
  /// The members must outlive the set.
  explicit SourceSet(std::vector<RequestSource*> members) noexcept : members_(std::move(members)) {}

  void poll(Clock::time_point now, const Submit& submit) override;
  [[nodiscard]] Clock::time_point next_due() const noexcept override;
  [[nodiscard]] bool exhausted() const noexcept override;
  std::uint64_t stop() noexcept override;
  void doorbells(std::vector<ipc::Doorbell*>& out) override;
  [[nodiscard]] bool ready() const noexcept override;

 private:
  std::vector<RequestSource*> members_;
};

}  // namespace snapfaas::supervisor
