// Shared helpers for the gev-host end-to-end tests: a fresh module directory holding
// chosen module files, the host's command line, and log matching.
// (GEV_MODULE_DIR and GEV_TEST_MODULE_DIR come from the gev-host-tests target.)
#pragma once

#include <unistd.h>

#include <filesystem>
#include <initializer_list>
#include <string>
#include <vector>

namespace gev::test {

// A fresh module directory holding the named built-in and test modules.
struct ModuleDir {
  explicit ModuleDir(std::initializer_list<std::string> names) {
    namespace fs = std::filesystem;
    path = fs::temp_directory_path() /
           ("gev-modules-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
    fs::create_directories(path);
    for (const std::string& n : names) {
      fs::path src = fs::path(GEV_MODULE_DIR) / (n + ".so");
      if (!fs::exists(src)) src = fs::path(GEV_TEST_MODULE_DIR) / (n + ".so");
      fs::copy_file(src, path / (n + ".so"));
    }
  }
  ~ModuleDir() { std::filesystem::remove_all(path); }
  ModuleDir(const ModuleDir&) = delete;
  ModuleDir& operator=(const ModuleDir&) = delete;
  std::filesystem::path path;
  static inline int counter = 0;
};

// gev-host on 127.0.0.1 port 0 with two loops, serving `handler` over `protocol` from
// `dir`, plus `extra` arguments (e.g. {"--module-opt", "line.max_length=16"}).
inline std::vector<std::string> args(const ModuleDir& dir, std::string protocol,
                                     std::string handler, std::vector<std::string> extra = {}) {
  std::vector<std::string> a = {"--admin",      "off",
                                "--listen",     "127.0.0.1:0",
                                "--loops",      "2",
                                "--module-dir", dir.path.string(),
                                "--protocol",   std::move(protocol),
                                "--handler",    std::move(handler)};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

inline bool contains(const std::string& log, const std::string& what) {
  return log.find(what) != std::string::npos;
}

}  // namespace gev::test
