// Connection: one accepted or dialed TCP connection, owned by one loop; or, on a UDP
// listener, one peer address (a datagram peer: each send is one datagram to it, each
// datagram from it one frame; it closes when idle for the listener's idle_timeout, when
// closed, or when the listener stops; shutdown_write, pause_reading, resume_reading and
// couple do nothing there).
//
// Ownership: the connection keeps itself alive (a self shared_ptr) from accept until it
// is closed; hold a shared_ptr (shared_from_this()) to use it past a callback. Thread
// rules: send, close, shutdown_write, pause_reading and resume_reading are thread-safe
// (off-loop calls are queued to the loop); everything else is for the loop thread, which
// is where every callback runs. After close, sends are dropped silently.
#pragma once

#include <any>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "gev/event_loop.h"
#include "gev/protocol.h"
#include "gev/ring_buffer.h"
#include "gev/socket_address.h"
#include "gev/stats.h"
#include "gev/timer_wheel.h"
#include "gev/transport.h"

struct iovec;

namespace gev {

namespace detail {
struct Service;
class DatagramSocket;
}  // namespace detail

class Connection final : public std::enable_shared_from_this<Connection>,
                         private detail::IoHandler {
 public:
  // Internal: created by the server's accept path (or a dial: outbound) on the owning loop.
  Connection(EventLoop& loop, detail::Service& service, int fd, const SocketAddress& peer,
             bool outbound = false);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // ---- thread-safe ----
  // Encodes `data` with the server's protocol and sends it. Off the loop thread the
  // bytes are copied first. Replies sent while a read is being handled leave together.
  void send(std::span<const uint8_t> data, uint32_t type = 0);
  void send(std::string_view text, uint32_t type = 0) {
    send({reinterpret_cast<const uint8_t*>(text.data()), text.size()}, type);
  }
  void send(const Frame& msg);
  // Stops reading, flushes pending output, then closes. on_close follows.
  void close();
  // Closes now, dropping unsent output.
  void abort();
  // Flushes pending output, then shuts down the write side; reading goes on until EOF.
  void shutdown_write();
  // User flow control, independent of the write-buffer backpressure.
  void pause_reading();
  void resume_reading();

  // ---- loop thread ----
  uint64_t id() const { return id_; }
  EventLoop& loop() const { return loop_; }
  bool connected() const { return state_ == State::kConnected; }
  const SocketAddress& peer_address() const { return peer_; }
  SocketAddress local_address() const { return SocketAddress::local_of(fd_); }
  int fd() const { return fd_; }
  size_t read_buffer_size() const { return in_.size(); }
  size_t write_buffer_size() const { return out_.size(); }
  // Dialed by this process (Server::connect) rather than accepted.
  bool outbound() const { return outbound_; }
  // A datagram peer of a UDP listener (fd() is then the listener's socket, shared).
  bool datagram() const { return datagram_ != nullptr; }
  // Flow coupling, the one a proxy needs between its two sides (same loop only; throws
  // std::invalid_argument otherwise): while this connection's unsent output is above
  // `high` bytes, `other` does not read, until it is back at `low` or below; and the
  // same the other way round. Either side closing undoes it. 0, 0: the options' write
  // high and low water marks. A connection has one coupling; a new one replaces it.
  void couple(Connection& other, size_t high = 0, size_t low = 0);
  void decouple();
  // Reading is off because the coupled connection is behind with its output.
  bool coupled_paused() const { return coupled_paused_; }
  // What its TLS (or other secure transport) negotiated; null on a plain connection.
  const TlsInfo* tls() const { return transport_ ? transport_->tls() : nullptr; }
  // Why the connection closed; meaningful in on_close.
  CloseReason close_reason() const { return close_reason_; }
  // Application state; any type. Protocols use protocol_state for theirs.
  std::any& context() { return context_; }
  void* protocol_state() const { return protocol_state_; }
  void set_protocol_state(void* p) { protocol_state_ = p; }

  // ---- internal ----
  // Registers with the loop and fires on_connect (with a transport: once its handshake
  // is done; a connection that never gets that far never reaches the handler).
  // false: the fd could not be watched (closed, counted as gone; no callback runs).
  bool start();
  void close_now(CloseReason reason);
  void close_after_flush(CloseReason reason);
  // A stop or drain reached this connection: the handler's on_stopping, then (unless it
  // closes the connection itself) close_after_flush(reason).
  void begin_stopping(CloseReason reason);
  // [loop thread] Runs fn as if inside a dispatch: if fn (module code called from a
  // task or timer) closes the connection, the close finishes after fn returns, never
  // under it. Check connected() afterwards.
  void run_guarded(const std::function<void()>& fn);
  // A datagram peer: set before start(), by the socket that serves it.
  void set_datagram_socket(detail::DatagramSocket* s) { datagram_ = s; }
  // One datagram from this peer (loop thread, from its socket's batch).
  void deliver_datagram(std::span<const uint8_t> in);
  // Runs after on_close, once (a dial's reconnect uses it).
  void set_closed_hook(std::function<void(Connection&)> hook) { closed_hook_ = std::move(hook); }
  Connection* next_in_loop = nullptr;  // EventLoop's intrusive list
  Connection* prev_in_loop = nullptr;

 private:
  enum class State : uint8_t { kConnected, kClosing, kClosed };
  struct IdleNode : TimerWheel::Node {
    Connection* owner;
  };

  void handle_io(uint32_t mask) override;
  void handle_read(bool hangup);  // hangup: the poller reported an error or hang-up
  void handle_transport_read();
  void announce();  // on_connect
  void deliver(uint8_t* buf, size_t n);  // bytes for the protocol, from the read buffer
  void send_transport_output();
  bool output_through_transport(const iovec* iov, int count);
  bool send_or_buffer(const uint8_t* p, size_t n);
  void handle_write();
  void process(std::span<const uint8_t> in, bool from_ring);
  void send_in_loop(const Frame& msg);
  void flush(WriteBatch& batch);
  bool buffer_output(const uint8_t* p, size_t n);
  void after_output_drained();
  void peer_ended();
  void update_interest();
  static constexpr size_t kCoupledReadSize = 16 * 1024;  // per read() while coupled
  static constexpr int kCoupledReads = 8;  // reads per readiness event while coupled
  bool read_on(bool full, int reads) const;
  void set_coupled_pause(bool paused);
  void output_shrank();  // out_ lost bytes: resume the coupled side at its low mark
  void on_idle_check();
  void arm_close_deadline();
  void maybe_finish();
  void finish_close();
  detail::LoopCounters& counters() { return *counters_; }

  EventLoop& loop_;
  detail::Service& service_;
  detail::LoopCounters* counters_;  // this loop's slot in the service's counters
  int fd_;
  State state_ = State::kConnected;
  bool dispatching_ = false;
  bool peer_eof_ = false;
  bool backpressure_paused_ = false;
  bool user_paused_ = false;
  bool shutdown_pending_ = false;
  bool write_shut_ = false;
  bool announced_ = false;  // on_connect ran (so on_close and on_stopping will)
  bool stopping_ = false;  // begin_stopping ran: its reason is the close reason
  bool close_notify_pending_ = false;  // close_after_flush inside a read: after its replies
  bool outbound_ = false;
  bool coupled_paused_ = false;  // the coupled connection's output is over its high mark
  CloseReason close_reason_ = CloseReason::kLocal;
  uint32_t interest_ = 0;
  uint64_t id_;
  uint64_t last_active_ms_ = 0;
  WriteBatch* current_batch_ = nullptr;  // set while a read's replies are gathered
  RingBuffer in_;
  RingBuffer out_;
  IdleNode idle_node_;
  SocketAddress peer_;
  void* protocol_state_ = nullptr;
  std::any context_;
  std::unique_ptr<Transport> transport_;  // null: plain TCP
  detail::DatagramSocket* datagram_ = nullptr;  // a UDP peer: its socket (fd_ is shared)
  Connection* coupled_ = nullptr;         // couple(): each side points at the other
  size_t couple_high_ = 0;
  size_t couple_low_ = 0;
  std::function<void(Connection&)> closed_hook_;
  std::shared_ptr<Connection> self_;  // keeps an open connection alive
};

}  // namespace gev
