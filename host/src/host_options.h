// HostOptions: gev-host's command line (Boost.Program_options).
#pragma once

#include <gev/log.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace gev::host {

struct HostOptions {
  std::string listen = "127.0.0.1:1833";
  std::string protocol = "raw";
  std::string handler = "echo";
  size_t loops = 0;
  bool reuse_port = false;
  uint64_t idle_timeout_ms = 0;
  uint64_t max_connections = 0;
  std::filesystem::path module_dir;  // empty: next to the executable (build or install tree)
  std::map<std::string, std::map<std::string, std::string>> module_opts;  // module -> key -> value
  LogLevel log_level = LogLevel::kInfo;
};

// Parses argv. Returns 0 to go on, or an exit code (0 after --help/--version is returned
// as -1 so the caller exits successfully). Errors name the option and go to stderr.
int parse_host_options(int argc, char** argv, HostOptions& out);

// The module directory to use when none was given: <exe>/../lib/gev/modules.
std::filesystem::path default_module_dir(const char* argv0);

}  // namespace gev::host
