// HostProcess: runs the real gev-host binary for a test, reads its log, and finds the
// port it listens on ("listening on 127.0.0.1:PORT"). Killed (SIGTERM) when destroyed.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace gev::test {

// What a service manager hands a child: fds from 3 up, and environment variables.
struct Inherit {
  std::vector<int> fds;          // become 3, 4, ... in the child
  std::vector<std::string> env;  // NAME=VALUE, added to the environment
  bool listen_pid = false;       // LISTEN_PID=<the child's own pid>
};

class HostProcess {
 public:
  // Starts `binary` with `args`; waits up to timeout_ms until it logged `listeners`
  // "listening on" lines (or exited).
  HostProcess(const std::string& binary, const std::vector<std::string>& args,
              int timeout_ms = 10000, size_t listeners = 1, const Inherit& inherit = {});
  ~HostProcess();
  HostProcess(const HostProcess&) = delete;
  HostProcess& operator=(const HostProcess&) = delete;

  bool listening() const { return !ports_.empty(); }
  pid_t pid() const { return pid_; }
  // The port of the i-th listener to start (config order; the admin endpoint last).
  uint16_t port(size_t i = 0) const { return i < ports_.size() ? ports_[i] : 0; }
  // Exit status once it has exited (-1 while running); waits up to timeout_ms.
  int wait_exit(int timeout_ms = 10000);
  // Everything it wrote to stderr/stdout so far (reads what is pending first).
  const std::string& log();
  void terminate();

 private:
  void pump(int timeout_ms);

  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::vector<uint16_t> ports_;
  int status_ = -1;
  std::string log_;
};

}  // namespace gev::test
