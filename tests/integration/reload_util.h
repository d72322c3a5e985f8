// Helpers of the reload tests: the admin endpoint's reload and metrics, a config file
// with an admin endpoint, installing a module build, and a clean stop.
#pragma once

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "admin_http.h"
#include "host_fixture.h"
#include "host_process.h"
#include "test_client.h"

namespace gev::test {
namespace fs = std::filesystem;

inline std::string reload(uint16_t admin) {
  return http(admin, "POST", "/reload", kBearer);
}

// The value of one sample on /metrics ("name{labels}"), or -1.
inline long metric(uint16_t admin, const std::string& sample) {
  std::string body = http(admin, "GET", "/metrics");
  size_t at = body.find("\n" + sample + " ");
  if (at == std::string::npos) return -1;
  return std::stol(body.substr(at + sample.size() + 2));
}

// Each open descriptor of `pid` and what it is ("7 -> socket:[1234]"), for a message.
inline std::string fd_list(pid_t pid) {
  std::string out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    std::error_code lec;
    out += e.path().filename().string() + " -> " + fs::read_symlink(e.path(), lec).string() + "\n";
  }
  return out;
}

inline size_t open_fds(pid_t pid) {
  size_t n = 0;
  std::error_code ec;
  for ([[maybe_unused]] const auto& e :
       fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec))
    ++n;
  return n;
}

// Puts a module build at dir/<as>.so the way an install does: a new file renamed over
// the old one (the running host has its own copy of the old one).
inline void install(const ModuleDir& dir, const std::string& build, const std::string& as) {
  fs::path src = fs::path(GEV_MODULE_DIR) / (build + ".so");
  if (!fs::exists(src)) src = fs::path(GEV_TEST_MODULE_DIR) / (build + ".so");
  fs::path tmp = dir.path / (as + ".so.new");
  fs::copy_file(src, tmp, fs::copy_options::overwrite_existing);
  fs::rename(tmp, dir.path / (as + ".so"));
}

// A config with an admin endpoint, 2 loops and the given listener sections.
inline fs::path write_config(const ModuleDir& dir, const std::string& listeners,
                      const std::string& extra = "") {
  fs::path conf = dir.path / "host.conf";
  std::ofstream f(conf);
  f << "loops = 2\nadmin = 127.0.0.1:0\nmodule-dir = " << dir.path.string() << "\n"
    << "admin-token-file = " << write_token(dir.path).string() << "\n"
    << extra << listeners;
  return conf;
}

inline const char* kMainListener =
    "[listener.main]\nlisten = 127.0.0.1:0\nprotocol = line\nhandler = echo\n";

// The port of the last "listening on" line in the log.
inline uint16_t last_listening_port(const std::string& log) {
  size_t at = log.rfind("listening on 127.0.0.1:");
  if (at == std::string::npos) return 0;
  return static_cast<uint16_t>(std::stoi(log.substr(at + 23)));
}

// Stops the host: a graceful stop exits 0, and in sanitizer builds a memory error or leak
// (an unload done too early, a generation never freed) shows in the status and log.
inline void check_clean_exit(HostProcess& host) {
  host.terminate();
  const std::string& log = host.log();
  std::string tail = log.size() > 4000 ? log.substr(log.size() - 4000) : log;
  CHECK_MESSAGE(host.wait_exit(10000) == 0, "exit status " << host.wait_exit(0) << ":\n" << tail);
  CHECK_MESSAGE(!contains(log, "Sanitizer"), tail);
  CHECK_MESSAGE(!contains(log, "runtime error"), tail);
  CHECK_MESSAGE(!contains(log, "still referenced at exit"), tail);
}


}  // namespace gev::test
