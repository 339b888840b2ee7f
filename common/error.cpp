// Error helpers for setup paths.
#include "common/error.h"

#include <cerrno>
#include <cstring>

namespace snapfaas::common {

Error sys_error(std::string_view step, int err) {
  std::string message(step);
  message += ": ";
  message += std::strerror(err);
  return Error(message);
}

Error sys_error(std::string_view step) { return sys_error(step, errno); }

}  // namespace snapfaas::common
