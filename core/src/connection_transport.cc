// Connection through a transport (TLS): wire bytes read into the loop's wire buffer and
// turned into plaintext for the protocol; replies handed to the transport in record-sized
// pieces; whatever the transport has to send (handshake, alerts, records) written out.
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "connection_io.h"
#include "gev/connection.h"
#include "gev/log.h"
#include "service.h"

namespace gev {

// With a transport: wire bytes into the loop's wire buffer, plaintext into its read
// buffer, the transport's own output (handshake, alerts) sent at once.
void Connection::handle_transport_read() {
  uint8_t* wire = loop_.wire_buffer();
  ssize_t n = ::read(fd_, wire, EventLoop::kReadBufferSize);
  if (n == 0) {
    bool clean = transport_->clean_end();
    GEV_DEBUG("conn %llu: peer closed%s", static_cast<unsigned long long>(id_),
              clean ? "" : " without ending its stream (truncated)");
    if (clean) {
      peer_ended();
    } else {
      peer_eof_ = true;
      close_after_flush(CloseReason::kTransportError);
    }
    return;
  }
  if (n < 0) {
    if (detail::transient(errno)) return;
    GEV_DEBUG("conn %llu: read: %s", static_cast<unsigned long long>(id_), std::strerror(errno));
    close_now(CloseReason::kPeerReset);
    return;
  }
  counters().bytes_in.add(static_cast<uint64_t>(n));
  last_active_ms_ = loop_.now_ms();
  std::span<const uint8_t> in(wire, static_cast<size_t>(n));
  uint8_t* plain = loop_.read_buffer();
  for (;;) {
    Transport::Input r = transport_->input(in, {plain, EventLoop::kReadBufferSize});
    in = {};
    send_transport_output();
    if (state_ == State::kClosed) return;
    if (r.error) {
      GEV_INFO("conn %llu from %s: %s; closing", static_cast<unsigned long long>(id_),
               peer_.to_string().c_str(), r.error);
      close_after_flush(CloseReason::kTransportError);  // after the alert, if any
      return;
    }
    // (Not once a close or stop began: a handler never meets a connection it cannot use.)
    if (!announced_ && state_ == State::kConnected && transport_->established()) {
      announce();
      if (state_ != State::kConnected) return;
    }
    if (r.plain > 0) deliver(plain, r.plain);
    if (state_ != State::kConnected) return;
    if (r.end) {
      peer_ended();
      return;
    }
    if (!r.more) return;
  }
}

// The replies of one flush, to the transport in as few pieces as a TLS record holds:
// small pieces (a WebSocket header, then its payload, then the next message's) are
// gathered in the loop's wire buffer (free between reads) up to 16 KiB, so a batch of
// replies becomes one record, not one per piece; a large piece goes through as it is.
bool Connection::output_through_transport(const iovec* iov, int count) {
  constexpr size_t kRecord = 16384;  // the most plaintext one TLS record carries
  uint8_t* stage = loop_.wire_buffer();
  size_t staged = 0;
  for (int i = 0; i < count; ++i) {
    const auto* p = static_cast<const uint8_t*>(iov[i].iov_base);
    size_t len = iov[i].iov_len;
    while (len > 0) {
      if (staged == 0 && len >= kRecord) {
        if (!transport_->output({p, len})) return false;
        break;
      }
      size_t take = std::min(len, kRecord - staged);
      std::memcpy(stage + staged, p, take);
      staged += take;
      p += take;
      len -= take;
      if (staged == kRecord) {
        if (!transport_->output({stage, staged})) return false;
        staged = 0;
      }
    }
  }
  return staged == 0 || transport_->output({stage, staged});
}

// What the transport has to send: written if nothing is queued, else queued.
void Connection::send_transport_output() {
  while (state_ != State::kClosed) {
    std::span<const uint8_t> out = transport_->pending_output();
    if (out.empty()) return;
    bool ok = send_or_buffer(out.data(), out.size());  // sent, or queued in out_
    transport_->consume_output(out.size());
    if (!ok) return;
  }
}

}  // namespace gev
