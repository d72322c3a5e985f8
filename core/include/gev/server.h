// Server: gev's server. One listener (or one per loop with reuse_port), N worker loops,
// a handler and a protocol.
//
//   EchoHandler handler;
//   gev::Server server(handler, options);   // protocol defaults to raw bytes
//   server.run();                           // until SIGINT/SIGTERM or stop()
//
// The handler and protocol must outlive the server. Callbacks run on worker loops.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "gev/connection.h"
#include "gev/event_loop.h"
#include "gev/options.h"
#include "gev/protocol.h"
#include "gev/socket_address.h"
#include "gev/stats.h"

namespace gev {

namespace detail {
struct Service;
class Listener;
}  // namespace detail

class Server {
 public:
  // protocol nullptr: raw bytes (gev's default protocol).
  Server(Handler& handler, Options options, Protocol* protocol = nullptr);
  ~Server();  // stop()s if running
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens (throws std::system_error or std::invalid_argument on a bad or
  // busy address), then starts every loop on threads of its own and returns.
  void start();
  // Like start(), but runs the acceptor loop on the calling thread and returns after the
  // server stopped (stop(), or SIGINT/SIGTERM when options.handle_signals).
  void run();
  // Graceful stop: stop accepting, let output drain up to options.stop_timeout, close
  // every connection (on_close fires for each), join threads. Thread-safe and idempotent.
  // From a loop thread of this server it only begins the stop (a loop cannot join itself).
  void stop();
  // Blocks until the server has stopped.
  void wait();

  // The bound address (port resolved when options.address asked for port 0).
  const SocketAddress& address() const { return bound_; }
  uint16_t port() const { return bound_.port(); }
  const Options& options() const;

  // Timers on the acceptor loop (gev's RunAfter/RunEvery). Thread-safe.
  TimerId run_after(std::chrono::nanoseconds delay, EventLoop::Task task);
  TimerId run_every(std::chrono::nanoseconds interval, EventLoop::Task task);
  void cancel(TimerId id);

  std::span<EventLoop* const> loops() const { return loop_ptrs_; }
  EventLoop& main_loop() { return *main_loop_; }
  Stats stats() const;

 private:
  void listen();
  void open_listeners();
  void spawn_workers();
  void on_accept(EventLoop& accepting, int fd, const SocketAddress& peer);
  EventLoop* choose_loop();
  void begin_stop();
  void drain(size_t loop_index, int64_t deadline_ns);
  void worker_done();
  void finish();

  std::unique_ptr<Protocol> own_protocol_;
  std::unique_ptr<detail::Service> service_;
  std::vector<std::unique_ptr<EventLoop>> loops_;
  std::vector<EventLoop*> loop_ptrs_;
  std::unique_ptr<EventLoop> main_loop_;
  std::vector<std::unique_ptr<detail::Listener>> listeners_;  // [0] main, or one per loop
  std::vector<std::thread> threads_;
  std::thread main_thread_;
  SocketAddress bound_;
  size_t next_loop_ = 0;
  std::atomic<size_t> workers_running_{0};
  std::atomic<bool> started_{false};
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> stopping_{false};  // read by hand-off tasks on worker loops
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  bool done_ = false;
  int signal_fd_ = -1;
};

}  // namespace gev
