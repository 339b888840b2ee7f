// Logging setup shared by every SnapFaaS process.
#include "common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <ctime>
#include <string>

namespace snapfaas::common {

void init_logging(std::string_view process_name, std::string_view level) {
  // Load the time zone now: the first local-time log line would otherwise open /etc/localtime
  // from whatever thread logs first — after firerunner's seccomp filters, a SIGSYS.
  ::tzset();
  std::string lvl(level);
  if (lvl.empty()) {
    const char* env = std::getenv("SNAPFAAS_LOG");
    lvl = env != nullptr ? env : "info";
  }
  auto logger = spdlog::stderr_color_mt(std::string(process_name));
  logger->set_pattern("[%H:%M:%S.%e] [%n] [%^%l%$] %v");
  logger->set_level(spdlog::level::from_str(lvl));
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace snapfaas::common
