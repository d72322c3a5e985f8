// Connection: the read path (decode in place from the loop's buffer, keep only
// leftovers) and the write path (write directly, buffer the rest, backpressure). The
// transport's share is in connection_transport.cc; closing, pausing and coupling in
// connection_control.cc.
#include "gev/connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>
#include <vector>

#include "connection_io.h"
#include "datagram_socket.h"
#include "gev/log.h"
#include "poller.h"
#include "service.h"

namespace gev {

using detail::kReadable;
using detail::kWritable;
using detail::kHangup;

namespace {
std::atomic<uint64_t> g_next_id{1};

ssize_t send_iov(int fd, iovec* iov, int count) {
  if (count == 1) return ::send(fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = static_cast<size_t>(count);
  return ::sendmsg(fd, &msg, MSG_NOSIGNAL);
}
}  // namespace

Connection::Connection(EventLoop& loop, detail::Service& service, int fd, const SocketAddress& peer,
                       bool outbound)
    : loop_(loop),
      service_(service),
      counters_(&service.counters_for(loop.index())),
      fd_(fd),
      outbound_(outbound),
      id_(g_next_id.fetch_add(1, std::memory_order_relaxed)),
      in_(0),
      out_(0),
      peer_(peer) {
  idle_node_.owner = this;
  idle_node_.fire = [](TimerWheel::Node* n) { static_cast<IdleNode*>(n)->owner->on_idle_check(); };
}

Connection::~Connection() {
  if (fd_ >= 0 && !datagram_) ::close(fd_);  // only if never started
}

bool Connection::start() {
  loop_.assert_in_loop_thread();
  self_ = shared_from_this();
  last_active_ms_ = loop_.now_ms();
  // A datagram peer's socket reads for it: nothing to watch (and a UDP listener has no
  // transport, so the rest is the same for both).
  interest_ = datagram_ ? 0u : static_cast<uint32_t>(kReadable);
  try {
    if (!datagram_) loop_.add_io(fd_, interest_, this);
  } catch (const std::system_error& e) {  // e.g. ENOSPC: fs.epoll.max_user_watches
    GEV_WARN("conn %llu: cannot watch fd %d: %s; closing", static_cast<unsigned long long>(id_),
             fd_, e.what());
    ::close(fd_);
    fd_ = -1;
    service_.live.fetch_sub(1, std::memory_order_relaxed);
    loop_.note_gone();
    self_.reset();  // the caller's temporary shared_ptr still holds us
    return false;
  }
  loop_.attach(this);
  if (service_.options.transport) {
    transport_ = service_.options.transport->make();  // may be null: plain after all
    if (transport_ && service_.options.handshake_timeout.count() > 0)
      loop_.run_after(service_.options.handshake_timeout,
                      [weak = weak_from_this(), ms = service_.options.handshake_timeout.count()] {
                        auto c = weak.lock();
                        if (!c || c->state_ != State::kConnected || c->transport_->established())
                          return;
                        c->transport_->timed_out();
                        GEV_INFO("conn %llu from %s: no handshake within %lld ms; closing",
                                 static_cast<unsigned long long>(c->id_),
                                 c->peer_.to_string().c_str(), static_cast<long long>(ms));
                        c->close_now(CloseReason::kTransportError);
                      });
  }
  if (service_.options.idle_timeout.count() > 0)
    loop_.wheel().schedule(
        &idle_node_,
        last_active_ms_ + static_cast<uint64_t>(service_.options.idle_timeout.count()));
  counters().opened.add(1);
  if (!transport_) announce();  // else once the handshake is done
  return true;
}

void Connection::announce() {
  announced_ = true;
  // A close() inside on_connect is deferred until it returns, and, when this runs inside
  // handle_io (the read that finished a handshake), until that dispatch unwinds.
  bool was = dispatching_;
  dispatching_ = true;
  service_.handler.on_connect(*this);
  dispatching_ = was;
  maybe_finish();
}

// ---------------------------------------------------------------- events

void Connection::handle_io(uint32_t mask) {
  dispatching_ = true;
  if ((mask & kWritable) && !out_.empty()) handle_write();
  // Readable without read interest is an error or hang-up report: read to learn which.
  if ((mask & kReadable) && state_ != State::kClosed && !peer_eof_) {
    if (transport_)
      handle_transport_read();
    else
      handle_read(mask & kHangup);
  }
  dispatching_ = false;
  maybe_finish();
}

void Connection::handle_read(bool hangup) {
  uint8_t* buf = loop_.read_buffer();
  // A coupled connection (a proxy's side) reads in HAProxy-sized pieces: measured on a
  // loopback bulk stream through modules/proxy, 64 KiB reads cost 1.8x HAProxy's CPU per
  // byte and 16 KiB ones 1.07x (bench/proxy_compare.sh, bulk-1c-64KiB-pipe16).
  const size_t want = coupled_ ? kCoupledReadSize : EventLoop::kReadBufferSize;
  ssize_t n = ::read(fd_, buf, want);
  // Paused: the bytes wait in the ring for resume_reading. An error or hang-up report
  // may come only once (kqueue reports a change, not a state), so after one, read on to
  // the error or the end of input; a plain readiness report (queued in the round that
  // paused us) gets its one read.
  while (n > 0 && user_paused_ && state_ == State::kConnected) {
    counters().bytes_in.add(static_cast<uint64_t>(n));
    deliver(buf, static_cast<size_t>(n));  // kept in the ring (or an overflow closes)
    if (!hangup || state_ != State::kConnected) return;
    n = ::read(fd_, buf, want);
  }
  for (int reads = 1; n > 0; ++reads) {
    counters().bytes_in.add(static_cast<uint64_t>(n));
    last_active_ms_ = loop_.now_ms();
    deliver(buf, static_cast<size_t>(n));
    if (!read_on(static_cast<size_t>(n) == want, reads)) return;
    n = ::read(fd_, buf, want);
  }
  if (n == 0) {
    GEV_DEBUG("conn %llu: peer closed", static_cast<unsigned long long>(id_));
    peer_ended();
    return;
  }
  if (detail::transient(errno)) return;
  GEV_DEBUG("conn %llu: read: %s", static_cast<unsigned long long>(id_), std::strerror(errno));
  close_now(CloseReason::kPeerReset);
}

// A coupled connection whose read filled its piece reads again at once while the other
// side has sent everything on (HAProxy's loop): one poller round per 16 KiB read cost
// bulk transfers ~4 epoll_wait calls per 64 KiB message where HAProxy makes 0.4.
bool Connection::read_on(bool full, int reads) const {
  return full && coupled_ != nullptr && reads < kCoupledReads && state_ == State::kConnected &&
         !user_paused_ && !coupled_paused_ && !peer_eof_ && coupled_->out_.empty();
}

// The peer sends no more. The handler may keep the connection open to write on (a proxy
// passing the half-close along); by default the replies already produced go out, then
// it closes.
void Connection::peer_ended() {
  peer_eof_ = true;
  update_interest();
  if (announced_ && state_ == State::kConnected && !write_shut_ && !shutdown_pending_ &&
      service_.handler.on_peer_eof(*this))
    return;
  close_after_flush(CloseReason::kPeerClosed);
}

// n bytes for the protocol at buf (the loop's read buffer): decoded in place, after
// what is left in the ring, or kept there while the handler has paused reading.
void Connection::deliver(uint8_t* buf, size_t n) {
  if (state_ != State::kConnected) return;  // closing: input is no longer wanted
  if (user_paused_) {
    if (in_.size() + n > service_.options.max_read_buffer || !in_.write(buf, n))
      close_now(CloseReason::kInputOverflow);
    return;
  }
  if (in_.empty()) {
    process({buf, n}, false);
  } else if (in_.size() + n > service_.options.max_read_buffer || !in_.write(buf, n)) {
    GEV_DEBUG("conn %llu: input over %zu bytes, closing", static_cast<unsigned long long>(id_),
              service_.options.max_read_buffer);
    close_now(CloseReason::kInputOverflow);
  } else {
    process(in_.linearize(), true);
  }
}

bool Connection::send_or_buffer(const uint8_t* p, size_t n) {
  size_t written = 0;
  if (out_.empty()) {
    ssize_t w = ::send(fd_, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (!detail::transient(errno)) {
        GEV_DEBUG("conn %llu: write: %s", static_cast<unsigned long long>(id_),
                  std::strerror(errno));
        close_now(CloseReason::kPeerReset);
        return false;
      }
      w = 0;
    }
    written = static_cast<size_t>(w);
    counters().bytes_out.add(written);
    last_active_ms_ = loop_.now_ms();
  }
  if (written < n && !buffer_output(p + written, n - written)) return false;
  if (!out_.empty() && !(interest_ & kWritable)) update_interest();
  return true;
}

void Connection::process(std::span<const uint8_t> in, bool from_ring) {
  WriteBatch& batch = loop_.acquire_batch();
  batch.reset(in);
  current_batch_ = &batch;
  Protocol& protocol = service_.protocol;
  Handler& handler = service_.handler;
  detail::LoopCounters& cnt = counters();
  size_t off = 0;
  uint64_t msgs_in = 0, msgs_out = 0;
  while (off < in.size() && state_ == State::kConnected) {
    DecodeResult r = protocol.decode(*this, in.subspan(off));
    bool overrun = r.consumed > in.size() - off;
    if (r.status == DecodeStatus::kError || overrun ||
        (r.status == DecodeStatus::kFrame && r.consumed == 0)) {
      const char* why = r.error   ? r.error
                        : overrun ? "protocol consumed more input than it was given"
                                  : "protocol produced a frame without consuming input";
      GEV_INFO("conn %llu from %s: decode error: %s; closing", static_cast<unsigned long long>(id_),
               peer_.to_string().c_str(), why);
      close_after_flush(CloseReason::kDecodeError);
      break;
    }
    size_t consumed = r.consumed;
    if (r.status == DecodeStatus::kFrame) {
      ++msgs_in;
      std::span<const uint8_t> reply = handler.on_message(*this, r.frame);
      if (reply.data() != nullptr && !write_shut_ && !shutdown_pending_ &&
          state_ != State::kClosed) {
        protocol.encode(*this, Frame{reply, r.frame.type, r.frame.meta}, batch);
        ++msgs_out;
      }
    }
    off += consumed;
    if (r.status == DecodeStatus::kNeedMore && consumed == 0) break;
  }
  current_batch_ = nullptr;
  cnt.messages_in.add(msgs_in);
  cnt.messages_out.add(msgs_out);
  flush(batch);  // before touching the input: the batch may reference it
  loop_.release_batch();
  if (close_notify_pending_) {  // a close() during the read: after its replies
    close_notify_pending_ = false;
    if (state_ == State::kClosing) {
      transport_->end_output();
      send_transport_output();
    }
  }
  if (shutdown_pending_ && out_.empty() && state_ != State::kClosed) after_output_drained();
  if (from_ring) {
    in_.consume(off);
  } else if (off < in.size() && state_ == State::kConnected) {
    size_t left = in.size() - off;
    if (left > service_.options.max_read_buffer || !in_.write(in.data() + off, left)) {
      close_now(CloseReason::kInputOverflow);
      return;
    }
  }
  if (in_.empty()) in_.shrink();  // an idle connection holds no input buffer
}

// One datagram, one frame: the protocol must take all of it as one message (an empty
// datagram too), or the datagram is dropped and counted; the peer is not closed.
void Connection::deliver_datagram(std::span<const uint8_t> in) {
  if (state_ != State::kConnected) return;
  last_active_ms_ = loop_.now_ms();
  dispatching_ = true;
  Protocol& protocol = service_.protocol;
  DecodeResult r = protocol.decode(*this, in);
  if (r.status != DecodeStatus::kFrame || r.consumed != in.size()) {
    datagram_->count_drop(DatagramDrop::kDecodeError);
    GEV_DEBUG("conn %llu from %s: datagram of %zu bytes dropped: %s",
              static_cast<unsigned long long>(id_), peer_.to_string().c_str(), in.size(),
              r.status == DecodeStatus::kError ? (r.error ? r.error : "decode error")
              : r.status == DecodeStatus::kNeedMore ? "not a whole frame"
                                                    : "more than one frame");
  } else {
    counters().messages_in.add(1);
    std::span<const uint8_t> reply = service_.handler.on_message(*this, r.frame);
    // (A send inside on_message is a datagram of its own, queued before this reply.)
    if (reply.data() != nullptr && state_ != State::kClosed) {
      WriteBatch& batch = loop_.acquire_batch();
      batch.reset(in);
      protocol.encode(*this, Frame{reply, r.frame.type, r.frame.meta}, batch);
      counters().messages_out.add(1);
      flush(batch);
      loop_.release_batch();
    }
  }
  dispatching_ = false;
  maybe_finish();
}

void Connection::handle_write() {
  RingBuffer::Spans s = out_.peek_all();
  iovec iov[2] = {{const_cast<uint8_t*>(s.first.data()), s.first.size()},
                  {const_cast<uint8_t*>(s.second.data()), s.second.size()}};
  ssize_t n = send_iov(fd_, iov, s.second.empty() ? 1 : 2);
  if (n < 0) {
    if (detail::transient(errno)) return;
    GEV_DEBUG("conn %llu: write: %s", static_cast<unsigned long long>(id_), std::strerror(errno));
    close_now(CloseReason::kPeerReset);
    return;
  }
  out_.consume(static_cast<size_t>(n));
  counters().bytes_out.add(static_cast<uint64_t>(n));
  counters().output_buffered.add(0 - static_cast<uint64_t>(n));
  last_active_ms_ = loop_.now_ms();
  output_shrank();
  if (backpressure_paused_ && out_.size() <= service_.options.write_low_water) {
    backpressure_paused_ = false;
    update_interest();
  }
  if (out_.empty()) after_output_drained();
}

// ---------------------------------------------------------------- output

void Connection::send(std::span<const uint8_t> data, uint32_t type) {
  send(Frame{data, type, {}});
}

void Connection::send(const Frame& msg) {
  if (loop_.in_loop_thread()) {
    send_in_loop(msg);
    return;
  }
  std::vector<uint8_t> data(msg.data.begin(), msg.data.end());
  std::vector<uint8_t> meta(msg.meta.begin(), msg.meta.end());
  loop_.queue_in_loop(
      [self = shared_from_this(), data = std::move(data), meta = std::move(meta), type = msg.type] {
        self->send_in_loop(Frame{data, type, meta});
      });
}

void Connection::send_in_loop(const Frame& msg) {
  if (state_ != State::kConnected || write_shut_ || shutdown_pending_) return;
  counters().messages_out.add(1);
  if (current_batch_ != nullptr) {  // inside this connection's read: leave with the rest
    service_.protocol.encode(*this, msg, *current_batch_);
    return;
  }
  // A failed write below may close the connection, and on_close may drop the caller's
  // last reference: keep this object alive until we return.
  std::shared_ptr<Connection> guard = dispatching_ ? nullptr : shared_from_this();
  WriteBatch& batch = loop_.acquire_batch();
  batch.reset();
  service_.protocol.encode(*this, msg, batch);
  flush(batch);
  loop_.release_batch();
  maybe_finish();
}

void Connection::flush(WriteBatch& batch) {
  // (An empty reply to a datagram is an empty datagram.)
  if ((batch.empty() && !datagram_) || state_ == State::kClosed) return;
  iovec iov[WriteBatch::kMaxPieces + 1];
  int count = batch.to_iovec(iov);
  if (datagram_) {  // one datagram, queued on the socket (sent with its batch)
    datagram_->send(peer_, iov, count);
    return;
  }
  if (transport_) {
    if (!output_through_transport(iov, count)) {
      GEV_INFO("conn %llu from %s: %s; closing", static_cast<unsigned long long>(id_),
               peer_.to_string().c_str(), transport_->why());
      close_now(CloseReason::kTransportError);
      return;
    }
    send_transport_output();
    return;
  }
  size_t written = 0;
  if (out_.empty()) {
    ssize_t n = send_iov(fd_, iov, count);
    if (n < 0) {
      if (!detail::transient(errno)) {
        GEV_DEBUG("conn %llu: write: %s", static_cast<unsigned long long>(id_),
                  std::strerror(errno));
        close_now(CloseReason::kPeerReset);
        return;
      }
      n = 0;
    }
    written = static_cast<size_t>(n);
    counters().bytes_out.add(written);
    last_active_ms_ = loop_.now_ms();
  }
  if (written == batch.bytes()) return;
  // Keep what the socket did not take, in order, behind anything already queued.
  size_t skip = written;
  for (int i = 0; i < count; ++i) {
    size_t len = iov[i].iov_len;
    if (skip >= len) {
      skip -= len;
      continue;
    }
    if (!buffer_output(static_cast<const uint8_t*>(iov[i].iov_base) + skip, len - skip)) return;
    skip = 0;
  }
  if (!(interest_ & kWritable)) update_interest();
}

bool Connection::buffer_output(const uint8_t* p, size_t n) {
  const Options& o = service_.options;
  if (out_.size() + n > o.max_write_buffer || !out_.write(p, n)) {
    GEV_DEBUG("conn %llu: slow consumer, %zu bytes unsent, closing",
              static_cast<unsigned long long>(id_), out_.size() + n);
    close_now(CloseReason::kSlowConsumer);
    return false;
  }
  counters().output_buffered.add(n);
  if (!backpressure_paused_ && out_.size() > o.write_high_water) {
    backpressure_paused_ = true;
    update_interest();
  }
  if (coupled_ && !coupled_->coupled_paused_ && out_.size() > couple_high_)
    coupled_->set_coupled_pause(true);
  return true;
}

void Connection::after_output_drained() {
  out_.shrink();
  backpressure_paused_ = false;
  update_interest();
  if (shutdown_pending_ && !write_shut_) {
    if (transport_) {  // close_notify goes before the FIN
      transport_->end_output();
      send_transport_output();
      if (!out_.empty() || state_ == State::kClosed) return;  // back here once drained
    }
    shutdown_pending_ = false;
    write_shut_ = true;
    ::shutdown(fd_, SHUT_WR);
    // Both directions ended (the handler kept it open past the peer's end to write).
    if (peer_eof_ && state_ == State::kConnected) close_after_flush(CloseReason::kPeerClosed);
  }
  // A closing connection is finished by handle_io once it returns.
}

void Connection::update_interest() {
  if (state_ == State::kClosed || datagram_) return;
  uint32_t want = 0;
  if (state_ == State::kConnected && !peer_eof_ && !backpressure_paused_ && !user_paused_ &&
      !coupled_paused_)
    want |= kReadable;
  if (!out_.empty()) want |= kWritable;
  if (want != interest_) {
    loop_.update_io(fd_, interest_, want);
    interest_ = want;
  }
}

}  // namespace gev
