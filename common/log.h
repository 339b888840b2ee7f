// Process-wide logging setup through spdlog (stderr, level from a flag or SNAPFAAS_LOG).
#pragma once

#include <string_view>

namespace snapfaas::common {

/// Configures the default spdlog logger to write to stderr with the process name in each line.
/// `level` is an spdlog level name ("info", "debug", ...); empty means $SNAPFAAS_LOG or "info".
/// Call once from main() before any other thread starts.
void init_logging(std::string_view process_name, std::string_view level = {});

}  // namespace snapfaas::common
