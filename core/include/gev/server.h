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
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <vector>

#include "gev/connection.h"
#include "gev/dial.h"
#include "gev/event_loop.h"
#include "gev/options.h"
#include "gev/protocol.h"
#include "gev/socket_address.h"
#include "gev/stats.h"

namespace gev {

namespace detail {
struct Service;
class Listener;
class DialTable;
class Resolver;
}  // namespace detail

class Server {
 public:
  // A server with one listener. protocol nullptr: raw bytes (gev's default protocol).
  Server(Handler& handler, Options options, Protocol* protocol = nullptr);
  // A server with no listener yet: loops and server-wide settings (loops, stop_timeout,
  // handle_signals) come from `options`; add listeners with add_listener().
  explicit Server(Options options);
  ~Server();  // stop()s if running
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Another listener on the same loops, with its own address, protocol, handler and
  // per-connection settings from `options`. Returns its index. After start() (any
  // thread, not during a stop) it binds at once, throwing as start() would, and accepts
  // from the next loop turn: a reload opens listeners this way.
  size_t add_listener(Handler& handler, Options options, Protocol* protocol = nullptr);
  // While running: binds like add_listener but accepts nothing until start_listener()
  // (remove_listener closes it unstarted). A reload binds every new listener this way
  // and starts them only once all have bound.
  size_t add_listener_paused(Handler& handler, Options options, Protocol* protocol = nullptr);
  void start_listener(size_t listener);
  // Stops accepting on one listener; its open connections are served on until they
  // close (or the server stops). Its index, counters and address stay valid. Thread-safe.
  // `done` runs (on some loop) once no new connection can reach its handler: the socket
  // is closed and every loop has taken what was accepted before.
  void remove_listener(size_t listener, std::function<void()> done = {});
  size_t listener_count() const;

  // Binds and listens on every listener (throws std::system_error or
  // std::invalid_argument on a bad or busy address, closing any it opened), then starts
  // every loop on threads of its own and returns.
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

  // The bound address of a listener (port resolved when its address asked for port 0).
  const SocketAddress& address(size_t listener = 0) const;
  uint16_t port(size_t listener = 0) const { return address(listener).port(); }
  const Options& options() const { return options_; }
  const Options& listener_options(size_t listener) const;

  // Timers on the acceptor loop (gev's RunAfter/RunEvery). Thread-safe.
  TimerId run_after(std::chrono::nanoseconds delay, EventLoop::Task task);
  TimerId run_every(std::chrono::nanoseconds interval, EventLoop::Task task);
  void cancel(TimerId id);

  // Runs on each worker loop's own thread after its connections are closed during stop,
  // just before the loop exits (for per-loop teardown). Set before start().
  void set_loop_exit_hook(std::function<void(EventLoop&)> hook) {
    loop_exit_hook_ = std::move(hook);
  }

  // Closes every listening socket but keeps serving open connections (a drain: the
  // process hands its sockets to another, then waits for its clients to finish).
  // Thread-safe; stop() later ends the rest.
  void stop_accepting();
  // ---- outbound connections (dialing) ----
  // A dialer: the handler, protocol and per-connection settings (limits, write marks,
  // idle timeout, load_balance) of the connections connect() opens; its address, backlog
  // and listener settings mean nothing. Returns its index. Any thread, until the stop.
  // Plain TCP for now: Options::tls or transport on a dialer throw std::invalid_argument.
  size_t add_dialer(Handler& handler, Options options, Protocol* protocol = nullptr);
  // Any thread. Dials `address` ("10.0.0.7:6379", "[::1]:80", or "localhost:80": a name
  // is resolved on a thread of its own, never on a loop; each address it has is tried in
  // turn) on opts.loop, else on the calling loop when called from one of this server's
  // loops, else on one its load_balance picks. Ends in the dialer's on_connect (then the
  // connection is an ordinary one, outbound()) or on_connect_failed, on that loop; with
  // opts.reconnect it dials again after failures and closes until cancelled or stopped.
  // Before start() the dial waits for the loops. Returns 0, dialing nothing, once a stop
  // has begun (dials in progress then end with kCancelled).
  DialId connect(size_t dialer, std::string address, ConnectOptions opts = {});
  // Any thread. A dial in progress or waiting to retry ends with kCancelled; a
  // reconnecting dial's open connection stays open but is not dialled again.
  void cancel_dial(DialId id);
  size_t dialer_count() const;
  // Counters of one dialer: open, closed, bytes and messages as a listener's, plus dials
  // and dial_failures.
  Stats dialer_stats(size_t dialer) const;

  // Open connections over all listeners and dialers. Thread-safe.
  size_t open_connections() const;
  // The listening socket of a listener (-1 with reuse_port, before start or after
  // stop_accepting): to pass to another process, which must dup it (SCM_RIGHTS does).
  int listen_fd(size_t listener = 0) const;
  // Every socket a listener serves now: a UDP listener's group (one per loop), or the one
  // listening socket (none with reuse_port). To pass to another process, as listen_fd.
  std::vector<int> listen_fds(size_t listener = 0) const;

  // Runs on the acceptor loop when a stop begins (stop() or a signal), before listeners
  // close: e.g. to tell a service manager. Set before start().
  void set_stop_hook(std::function<void()> hook) { stop_hook_ = std::move(hook); }
  // With options.handle_signals, SIGHUP runs this on the acceptor loop (a reload, by
  // convention) instead of its default action (ending the process). Set before run().
  void set_hangup_hook(std::function<void()> hook) { hangup_hook_ = std::move(hook); }

  std::span<EventLoop* const> loops() const { return loop_ptrs_; }
  EventLoop& main_loop() { return *main_loop_; }
  // Counters of one listener.
  Stats stats(size_t listener = 0) const;

 private:
  struct ListenerEntry;

  size_t add_listener(Handler& handler, Options options, Protocol* protocol, bool start);
  void listen();
  void open_listeners(ListenerEntry& entry);
  void open_datagram_sockets(ListenerEntry& entry, const std::optional<SocketAddress>& addr);
  void start_listeners(ListenerEntry& entry);
  void stop_listeners(ListenerEntry& entry);
  ListenerEntry& entry(size_t listener) const;
  void spawn_workers();
  void on_accept(ListenerEntry& entry, EventLoop& accepting, int fd, const SocketAddress& peer);
  EventLoop* choose_loop(ListenerEntry& entry);
  void begin_stop();
  void close_and_drain();  // after options.stop_delay: close listeners, drain loops
  void drain(size_t loop_index, int64_t deadline_ns);
  void worker_done();
  void finish();

  Options options_;  // server-wide settings
  std::function<void(EventLoop&)> loop_exit_hook_;
  std::function<void()> stop_hook_;
  std::function<void()> hangup_hook_;
  // Entries are only ever appended (and live until the server dies), so a reference
  // taken under the mutex stays valid after it is released.
  mutable std::mutex listeners_mu_;
  std::vector<std::unique_ptr<ListenerEntry>> listeners_;
  std::vector<std::unique_ptr<ListenerEntry>> dialers_;  // (no sockets; also under the mutex)
  std::vector<std::unique_ptr<EventLoop>> loops_;
  std::vector<EventLoop*> loop_ptrs_;
  std::unique_ptr<EventLoop> main_loop_;
  std::unique_ptr<detail::Resolver> resolver_;
  std::vector<std::unique_ptr<detail::DialTable>> dial_tables_;  // one per worker loop
  std::atomic<uint64_t> next_dial_{1};
  std::atomic<size_t> next_dial_loop_{0};
  std::vector<std::thread> threads_;
  std::thread main_thread_;
  std::atomic<size_t> workers_running_{0};
  std::atomic<bool> started_{false};
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> stopping_{false};  // read by hand-off tasks on worker loops
  bool closing_ = false;               // close_and_drain ran (acceptor loop)
  std::atomic<bool> accepting_stopped_{false};  // stop_accepting() was called
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  bool done_ = false;
};

}  // namespace gev
