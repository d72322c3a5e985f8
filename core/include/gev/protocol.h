// Protocol and Handler: the two halves of gev's pipeline, as C++ interfaces.
//
//   input bytes -> Protocol::decode -> Handler::on_message -> reply -> Protocol::encode
//
// All calls for one connection run on that connection's loop thread. One Protocol and
// one Handler object serve every connection of a server, possibly from several loops at
// once: keep per-connection state in the Connection's context, not in members, or guard it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "gev/dial.h"
#include "gev/write_batch.h"

namespace gev {

class Connection;

// A decoded message. Views are borrowed: valid until on_message returns.
struct Frame {
  std::span<const uint8_t> data;
  uint32_t type = 0;              // protocol-defined (e.g. a WebSocket opcode)
  std::span<const uint8_t> meta;  // protocol-defined (e.g. a protobuf type name)
};

enum class DecodeStatus { kNeedMore, kFrame, kError };

struct DecodeResult {
  DecodeStatus status = DecodeStatus::kNeedMore;
  size_t consumed = 0;          // bytes to drop from the input (any status but kError)
  Frame frame;                  // with kFrame
  const char* error = nullptr;  // with kError: why (static string)

  static DecodeResult need_more(size_t consumed = 0) {
    return {DecodeStatus::kNeedMore, consumed, {}, nullptr};
  }
  static DecodeResult frame_of(size_t consumed, Frame f) {
    return {DecodeStatus::kFrame, consumed, f, nullptr};
  }
  static DecodeResult fail(const char* why) { return {DecodeStatus::kError, 0, {}, why}; }
};

class Protocol {
 public:
  virtual ~Protocol() = default;
  // Decodes at most one frame from the front of `in` (contiguous; the loop linearizes
  // wrapped input). kFrame must consume at least one byte. kError closes the connection.
  // On a UDP listener `in` is exactly one datagram (maybe empty): a kFrame consuming all
  // of it is served; anything else drops that datagram only (counted as decode_error).
  virtual DecodeResult decode(Connection& c, std::span<const uint8_t> in) = 0;
  // Appends the wire form of `msg` to `out`.
  virtual void encode(Connection& c, const Frame& msg, WriteBatch& out) = 0;
};

// gev's DefaultProtocol: every chunk of bytes read is one frame; replies go out as is.
class RawProtocol final : public Protocol {
 public:
  DecodeResult decode(Connection&, std::span<const uint8_t> in) override {
    return DecodeResult::frame_of(in.size(), Frame{in, 0, {}});
  }
  void encode(Connection&, const Frame& msg, WriteBatch& out) override { out.append(msg.data); }
};

class Handler {
 public:
  virtual ~Handler() = default;
  // Over a transport with a handshake (TLS), once it is done: Connection::tls() is set.
  virtual void on_connect(Connection&) {}
  // Returns the reply, which the protocol encodes and sends. A default (null) span is no
  // reply; an empty view with a non-null pointer, such as an empty frame's own data, is
  // an empty message (a zero-length WebSocket message, say) and is sent. The reply
  // inherits the request's type and meta. It must stay valid until on_message returns:
  // a view of `frame` (no copy is made then) or of storage the handler owns.
  virtual std::span<const uint8_t> on_message(Connection& c, const Frame& frame) = 0;
  // Fires exactly once for every on_connect, whatever closed the connection.
  virtual void on_close(Connection&) {}
  // The server is stopping (or draining this connection): the last chance to say goodbye
  // in the protocol's own words. Return false (the default) to have the connection
  // closed once its output is flushed; true if it will close by itself (e.g. after a
  // closing handshake with the peer), which the stop's deadline still bounds.
  virtual bool on_stopping(Connection&) { return false; }
  // A dial of this handler's dialer (Server::connect) did not connect; on the loop it
  // ran on. No on_connect or on_close follows for it.
  virtual void on_connect_failed(const DialFailure&) {}
  // The peer ended its input (a FIN, or TLS close_notify). false (the default): the
  // replies produced so far go out, then the connection closes (kPeerClosed). true: it
  // stays open for writing (a proxy passes the half-close on); it closes once the handler
  // closes it, or calls shutdown_write() and that output has gone.
  virtual bool on_peer_eof(Connection&) { return false; }
};

}  // namespace gev
