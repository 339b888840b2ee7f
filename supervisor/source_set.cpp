// SourceSet: member sources polled in order (see source_set.h).
#include "supervisor/source_set.h"

#include <algorithm>

namespace snapfaas::supervisor {

void SourceSet::poll(Clock::time_point now, const Submit& submit) {
  for (RequestSource* s : members_) s->poll(now, submit);
}

RequestSource::Clock::time_point SourceSet::next_due() const noexcept {
  Clock::time_point next = Clock::time_point::max();
  for (const RequestSource* s : members_) next = std::min(next, s->next_due());
  return next;
}

bool SourceSet::exhausted() const noexcept {
  return std::all_of(members_.begin(), members_.end(), [](const RequestSource* s) { return s->exhausted(); });
}

std::uint64_t SourceSet::stop() noexcept {
  std::uint64_t left = 0;
  for (RequestSource* s : members_) left += s->stop();
  return left;
}

void SourceSet::doorbells(std::vector<ipc::Doorbell*>& out) {
  for (RequestSource* s : members_) s->doorbells(out);
}

bool SourceSet::ready() const noexcept {
  return std::any_of(members_.begin(), members_.end(), [](const RequestSource* s) { return s->ready(); });
}

}  // namespace snapfaas::supervisor
