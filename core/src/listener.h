// Listener: a listening socket on one loop. Accepts in bounded batches; on EMFILE it
// uses a spare fd to accept-and-close (so a full fd table does not spin the loop), and
// if even that fails it stops watching the socket for a moment.
#pragma once

#include <atomic>
#include <functional>

#include "gev/event_loop.h"
#include "gev/socket_address.h"
#include "gev/stats.h"

namespace gev::detail {

// The socket option that gives each loop its own listening socket on one port, and
// whether the kernel balances connections across such sockets: Linux does
// (SO_REUSEPORT), FreeBSD 12+ does with SO_REUSEPORT_LB, macOS and older FreeBSD do not
// (one socket takes every connection), and there the server keeps one acceptor instead.
struct ReusePortOption {
  int name;
  const char* label;
  bool balances;
};
ReusePortOption reuseport_option();

// A non-blocking, close-on-exec stream socket (dialing uses it too); -1 with errno.
int stream_socket(int family);

// Opens, binds and listens (non-blocking, close-on-exec, SO_REUSEADDR, optionally
// SO_REUSEPORT). Throws std::system_error naming the address.
int open_listen_socket(const SocketAddress& addr, bool reuse_port, int backlog);

// Checks that fd is a listening stream socket and makes it non-blocking and
// close-on-exec; throws std::invalid_argument saying what is wrong otherwise.
void adopt_listen_socket(int fd);

class Listener final : public IoHandler {
 public:
  using AcceptFn = std::function<void(int fd, const SocketAddress& peer)>;

  // Takes ownership of listen_fd. Counters are written on the loop's thread.
  Listener(EventLoop& loop, int listen_fd, LoopCounters& counters, AcceptFn on_accept);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  void start();                   // loop thread
  void stop();                    // loop thread; closes the socket (idempotent)
  int fd() const { return fd_; }  // any thread (a hand-off or reload reads it)
  void handle_io(uint32_t mask) override;

 private:
  void on_fd_exhausted(int err);

  EventLoop& loop_;
  std::atomic<int> fd_;  // written on the loop thread only
  int spare_fd_;
  bool watching_ = false;
  int64_t last_warning_ns_ = 0;
  LoopCounters& counters_;
  AcceptFn on_accept_;
};

}  // namespace gev::detail
