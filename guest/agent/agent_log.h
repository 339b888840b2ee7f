// Tiny stderr logger of the guest agent ("snapfaas-agent: level: message").
// Why not spdlog (the house rule): Debian ships spdlog as a shared library on top of a shared
// libfmt, and the guest rootfs holds neither; the agent must depend on libc and libpython3.11 only
// (libstdc++/libgcc are linked statically). A dozen log lines per run do not justify bundling them.
#pragma once

#include <cstdarg>
#include <cstdio>

namespace snapfaas::guest {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

/// Minimum level printed (process-wide; set once from main before anything logs).
inline LogLevel& log_threshold() noexcept {
  static LogLevel level = LogLevel::kInfo;
  return level;
}

/// printf-style line to stderr when `level` >= log_threshold(). Thread-safe per line (one fprintf).
[[gnu::format(printf, 2, 3)]] inline void log(LogLevel level, const char* format, ...) noexcept {
  if (level < log_threshold()) return;
  static constexpr const char* kNames[] = {"debug", "info", "warn", "error"};
  char line[1024];
  va_list args;
  va_start(args, format);
  std::vsnprintf(line, sizeof(line), format, args);
  va_end(args);
  std::fprintf(stderr, "snapfaas-agent: %s: %s\n", kNames[static_cast<int>(level)], line);
}

}  // namespace snapfaas::guest
