// Restart hand-off: a new gev-host takes the listening sockets of a running one over a
// unix socket (SCM_RIGHTS), so a restart refuses no connection and resets nothing that
// waits in an accept backlog.
//
//   new -> old   "GEV-TAKEOVER 1 <pid>\n"
//   old -> new   "<n>\n<name> <address>\n..." with the n listening fds attached
//   new -> old   "READY\n" once it serves them (or it closes the connection: failed)
//   old -> new   "OK\n" after it stopped accepting; the old process then drains its
//                open connections (up to --drain-timeout) and exits
//
// The old process keeps its copies of the sockets open until READY, so until then both
// accept from the same queues; if the new process dies first, nothing changes.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "systemd.h"  // ActivatedSocket: name, address, fd

namespace gev::host {

// The old side: answers takeover requests on `path`.
class HandoffServer {
 public:
  using Collect = std::function<std::vector<ActivatedSocket>()>;  // our sockets (not dup'd)
  using HandedOff = std::function<void()>;  // the successor is ready: stop accepting, drain
  // Binds `path` (an old file there is replaced). Throws std::system_error.
  HandoffServer(std::string path, Collect collect, HandedOff handed_off);
  ~HandoffServer();
  HandoffServer(const HandoffServer&) = delete;
  HandoffServer& operator=(const HandoffServer&) = delete;

 private:
  void run();
  bool serve(int conn);

  std::string path_;
  Collect collect_;
  HandedOff handed_off_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};  // a pipe that ends run()
  std::atomic<bool> done_{false};
  std::thread thread_;
};

// The new side, step 1: the old process's sockets, or an error.
struct Takeover {
  int conn = -1;  // to the old process, for step 2
  std::vector<ActivatedSocket> sockets;
};
bool request_takeover(const std::string& path, Takeover* out, std::string* error);

// Step 2, once serving: READY, then wait (up to timeout_ms) for the old one's OK.
bool confirm_takeover(Takeover& t, int timeout_ms, std::string* error);

}  // namespace gev::host
