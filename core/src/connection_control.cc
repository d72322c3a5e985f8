// Connection control: closing (graceful, now, at a deadline, on stop), pausing and
// resuming reads, and the flow coupling between two connections (couple/decouple).
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "datagram_socket.h"
#include "gev/connection.h"
#include "gev/log.h"
#include "poller.h"
#include "service.h"

namespace gev {

void Connection::output_shrank() {
  if (coupled_ && coupled_->coupled_paused_ && out_.size() <= couple_low_)
    coupled_->set_coupled_pause(false);
}

void Connection::set_coupled_pause(bool paused) {
  coupled_paused_ = paused;
  update_interest();
}

void Connection::couple(Connection& other, size_t high, size_t low) {
  loop_.assert_in_loop_thread();
  if (&other.loop_ != &loop_)
    throw std::invalid_argument("Connection::couple: the two connections are on different loops");
  if (&other == this) throw std::invalid_argument("Connection::couple: a connection with itself");
  if (datagram_ || other.datagram_)
    throw std::invalid_argument("Connection::couple: a datagram peer has no stream to pause");
  decouple();
  other.decouple();
  if (state_ == State::kClosed || other.state_ == State::kClosed) return;
  if (high == 0) high = service_.options.write_high_water;
  if (low == 0 || low > high) low = std::min(high, service_.options.write_low_water);
  coupled_ = &other;
  other.coupled_ = this;
  couple_high_ = other.couple_high_ = high;
  couple_low_ = other.couple_low_ = low;
  // Either may be behind already.
  if (out_.size() > high) other.set_coupled_pause(true);
  if (other.out_.size() > high) set_coupled_pause(true);
}

void Connection::decouple() {
  Connection* other = coupled_;
  if (!other) return;
  coupled_ = nullptr;
  other->coupled_ = nullptr;
  if (coupled_paused_) set_coupled_pause(false);
  if (other->coupled_paused_) other->set_coupled_pause(false);
}

// ---------------------------------------------------------------- control

void Connection::close() {
  loop_.run_in_loop([self = shared_from_this()] { self->close_after_flush(CloseReason::kLocal); });
}

void Connection::abort() {
  loop_.run_in_loop([self = shared_from_this()] { self->close_now(CloseReason::kLocal); });
}

void Connection::shutdown_write() {
  if (datagram_) return;  // no stream to end
  loop_.run_in_loop([self = shared_from_this()] {
    if (self->state_ == State::kClosed || self->write_shut_) return;
    self->shutdown_pending_ = true;
    // Inside a read, replies gathered so far leave first (process() finishes the job).
    if (self->out_.empty() && !self->current_batch_) self->after_output_drained();
  });
}

void Connection::pause_reading() {
  if (datagram_) return;  // its socket reads for every peer
  loop_.run_in_loop([self = shared_from_this()] {
    self->user_paused_ = true;
    self->update_interest();
  });
}

void Connection::resume_reading() {
  if (datagram_) return;
  loop_.run_in_loop([self = shared_from_this()] {
    self->user_paused_ = false;
    self->update_interest();
    // Input that arrived while paused is decoded now (from inside a dispatch, on the
    // next read instead).
    if (!self->in_.empty() && self->state_ == State::kConnected && !self->dispatching_) {
      self->dispatching_ = true;
      self->process(self->in_.linearize(), true);
      self->dispatching_ = false;
      self->maybe_finish();
    }
  });
}

void Connection::begin_stopping(CloseReason reason) {
  if (state_ != State::kConnected || stopping_) return;
  // However it then closes (its closing handshake, the peer, a deadline), it is counted
  // as closed by the stop or drain.
  stopping_ = true;
  close_reason_ = reason;
  bool closes_itself = false;
  if (announced_) run_guarded([&] { closes_itself = service_.handler.on_stopping(*this); });
  if (!closes_itself) close_after_flush(reason);
}

void Connection::run_guarded(const std::function<void()>& fn) {
  // As a dispatch does: a close that fn causes (a failed write, close()) finishes, and
  // on_close runs, only after fn has returned, so what fn's callers hold stays valid.
  auto keep = shared_from_this();
  bool was = dispatching_;
  dispatching_ = true;
  fn();
  dispatching_ = was;
  maybe_finish();
}

void Connection::close_after_flush(CloseReason reason) {
  if (state_ != State::kConnected) return;
  state_ = State::kClosing;
  if (!stopping_) close_reason_ = reason;
  if (transport_ && !write_shut_) {  // close_notify, after the replies
    if (current_batch_) {
      // Inside a read: the replies gathered so far (this message's too) are not in the
      // transport yet; process() ends the stream once it has flushed them.
      close_notify_pending_ = true;
    } else {
      transport_->end_output();
      send_transport_output();
      if (state_ == State::kClosed) return;
    }
  }
  update_interest();  // drops read interest
  // A peer that never reads must not hold the connection open forever. (If nothing
  // is pending, maybe_finish closes now or when the dispatch unwinds, and cancels this.)
  arm_close_deadline();
  maybe_finish();
}

void Connection::arm_close_deadline() {
  uint64_t ms = static_cast<uint64_t>(service_.options.close_timeout.count());
  if (ms > 0) loop_.wheel().schedule(&idle_node_, loop_.now_ms() + ms);
}

void Connection::maybe_finish() {
  // Inside a dispatch the close waits until the dispatch unwinds (handle_io or start).
  if (state_ == State::kConnected || dispatching_ || fd_ < 0) return;
  if (state_ == State::kClosed || (state_ == State::kClosing && out_.empty())) finish_close();
}

void Connection::close_now(CloseReason reason) {
  if (state_ == State::kClosed) return;
  if (state_ == State::kConnected && !stopping_) close_reason_ = reason;
  state_ = State::kClosed;
  maybe_finish();
}

void Connection::on_idle_check() {
  if (state_ == State::kClosing) {
    GEV_DEBUG("conn %llu: output not drained within close_timeout, closing",
              static_cast<unsigned long long>(id_));
    close_now(close_reason_);
    return;
  }
  if (service_.options.idle_timeout.count() <= 0) return;
  uint64_t deadline =
      last_active_ms_ + static_cast<uint64_t>(service_.options.idle_timeout.count());
  if (loop_.now_ms() < deadline) {
    loop_.wheel().schedule(&idle_node_, deadline);
    return;
  }
  GEV_DEBUG("conn %llu: idle for %lld ms, closing", static_cast<unsigned long long>(id_),
            static_cast<long long>(service_.options.idle_timeout.count()));
  close_now(CloseReason::kIdleTimeout);
}

void Connection::finish_close() {
  if (fd_ < 0) return;
  state_ = State::kClosed;
  loop_.wheel().cancel(&idle_node_);
  if (datagram_) {
    datagram_->forget(*this);  // the socket is shared: it stays
  } else {
    loop_.remove_io(fd_, interest_);
    ::close(fd_);
  }
  interest_ = 0;
  fd_ = -1;
  loop_.detach(this);
  counters().closed[static_cast<size_t>(close_reason_)].add(1);
  service_.live.fetch_sub(1, std::memory_order_relaxed);
  in_.clear();
  in_.shrink();
  counters().output_buffered.add(0 - static_cast<uint64_t>(out_.size()));
  out_.clear();
  out_.shrink();
  decouple();  // the other side reads again: this one's output is gone
  if (announced_) service_.handler.on_close(*this);  // once per on_connect
  if (closed_hook_) std::exchange(closed_hook_, nullptr)(*this);
  // Last: may destroy *this.
  std::shared_ptr<Connection> keep = std::move(self_);
}

}  // namespace gev
