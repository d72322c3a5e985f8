// Logging: one line per event that matters, printf-style, level checked before formatting.
// The hot path logs nothing; error paths that close a connection log at debug or warn.
#pragma once

#include <atomic>

namespace gev {

enum class LogLevel : int { kTrace = 0, kDebug, kInfo, kWarn, kError, kOff };

// Thread-safe: the level is an atomic, each line is written with one write(2).
void set_log_level(LogLevel level);
LogLevel log_level();
// Parses "trace|debug|info|warn|error|off"; returns false on anything else.
bool parse_log_level(const char* name, LogLevel* out);

void log_write(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

namespace detail {
extern std::atomic<int> g_log_level;
}

}  // namespace gev

#define GEV_LOG(level, ...)                                                                    \
  do {                                                                                         \
    if (static_cast<int>(level) >= ::gev::detail::g_log_level.load(std::memory_order_relaxed)) \
      ::gev::log_write(level, __VA_ARGS__);                                                    \
  } while (0)

#define GEV_DEBUG(...) GEV_LOG(::gev::LogLevel::kDebug, __VA_ARGS__)
#define GEV_INFO(...) GEV_LOG(::gev::LogLevel::kInfo, __VA_ARGS__)
#define GEV_WARN(...) GEV_LOG(::gev::LogLevel::kWarn, __VA_ARGS__)
#define GEV_ERROR(...) GEV_LOG(::gev::LogLevel::kError, __VA_ARGS__)
