// doctest runner for the core integration tests (each test starts real servers on
// 127.0.0.1 port 0 and talks to them over real sockets). GEV_LOG_LEVEL=debug shows
// the servers' logs; the default keeps only warnings.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <gev/log.h>

#include <cstdlib>

int main(int argc, char** argv) {
  gev::LogLevel level = gev::LogLevel::kWarn;
  if (const char* env = std::getenv("GEV_LOG_LEVEL")) gev::parse_log_level(env, &level);
  gev::set_log_level(level);
  doctest::Context ctx(argc, argv);
  return ctx.run();
}
