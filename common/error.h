// The setup-path error type: names the failing step and, when there is one, the errno text.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace snapfaas::common {

/// Thrown by setup paths (never by hot paths). what() reads "STEP: strerror(errno)" or "STEP: detail".
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

/// Builds "STEP: <strerror(err)>"; `err` defaults to the current errno.
[[nodiscard]] Error sys_error(std::string_view step, int err);
[[nodiscard]] Error sys_error(std::string_view step);

/// Throws sys_error(step) when `result` is negative; returns `result` otherwise.
template <typename T>
T check_sys(T result, std::string_view step) {
  if (result < 0) throw sys_error(step);
  return result;
}

}  // namespace snapfaas::common
