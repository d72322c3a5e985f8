// websocket: an RFC 6455 server as a gev protocol module, with permessage-deflate
// (RFC 7692). Handlers see whole messages; the module answers pings, runs the close
// handshake, and refuses malformed input with the RFC's status or close code. The
// conventions handlers see are in gev/sdk/websocket.h.
//
// Per connection: kHandshake (reading the request head) -> kVerdict (the handler has
// the GEV_WS_OPEN or GEV_WS_HTTP request) -> kOpen -> kClosing (we sent a close and wait
// for the peer's) -> kDone (our side is shut; input is discarded until the peer closes
// or close_timeout_ms passes).
//
// Payloads are consumed as they arrive (unmasked, inflated and UTF-8 checked piece by
// piece), so a message may be larger than the host's input buffer, and a bad one is
// refused at its first bad byte. Only max_message bounds what a peer can make us hold.
//
//   --module-opt websocket.KEY=VALUE      (defaults in brackets)
//     max_message=BYTES        largest message after reassembly and inflation [16 MiB];
//                              over it: close 1009
//     max_head=BYTES           largest request head [8192]; over it: 431
//     max_headers=N            most header lines in the request head [100]; over it: 431
//     handshake_timeout_ms=MS  to receive the whole request head [10000]; 0: none
//     close_timeout_ms=MS      for the peer to close TCP after our close [5000]
//     subprotocols=A,B         Sec-WebSocket-Protocol values, in our preference order
//     deflate=0|1              accept permessage-deflate offers [1]
//     deflate_threshold=BYTES  compress outgoing messages at least this long [1024]:
//                              zlib costs ~50 us per small message here, 35x an echo
//     deflate_level=0..9       zlib level [1]
//     server_no_context_takeover=0|1, client_no_context_takeover=0|1   force them [0]
//     server_max_window_bits=9..15, client_max_window_bits=9..15       [15]
#include <gev/sdk/cpp/module.h>
#include <gev/sdk/websocket.h>

#include <cstdarg>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bytes.h"
#include "deflate.h"
#include "frame.h"
#include "handshake.h"
#include "utf8.h"

namespace {

using gev::sdk::Conn;
using namespace gev::ws;

constexpr const char* kName = "websocket";
// Internal frame type: bytes that go out as they are (HTTP responses, control frames
// the module writes itself). Outside the opcode and HTTP status ranges handlers use.
constexpr uint32_t kRaw = 0x7FFF0001u;
constexpr size_t kMaxLoops = 1024;  // gev-host's own bound on --loops

const gev_host_api* api() {
  return gev::sdk::host_api();
}

enum class State : uint8_t { kHandshake, kVerdict, kOpen, kClosing, kDone };

struct WsConn {
  gev_conn* conn = nullptr;
  State state = State::kHandshake;
  gev_timer_id timer = 0;  // handshake, then close deadline
  // Between the upgrade request and the handler's verdict.
  std::string response;
  Deflate deflate;
  // The frame being read.
  bool in_frame = false;
  FrameHeader frame;
  uint64_t remaining = 0;  // payload bytes still to come
  uint64_t offset = 0;     // payload bytes seen (mask phase)
  // The message being assembled.
  bool in_message = false;
  uint8_t opcode = 0;
  bool compressed = false;
  uint64_t wire_bytes = 0;  // payload bytes on the wire so far (compressed or not)
  Bytes message;
  Utf8Validator utf8;
  std::unique_ptr<Inflater> inflater;
  std::unique_ptr<Deflater> deflater;
};

// Close codes a peer may send (RFC 6455 7.4; 1004-1006 and 1015 never go on the wire).
bool valid_close_code(uint32_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

bool parse_flag(const gev::sdk::Config& cfg, const std::string& key, bool fallback) {
  uint64_t v = cfg.get_uint(key, fallback ? 1 : 0);
  if (v > 1) throw std::invalid_argument(cfg.name(key) + " wants 0 or 1");
  return v == 1;
}

int parse_bits(const gev::sdk::Config& cfg, const std::string& key) {
  uint64_t v = cfg.get_uint(key, 15);
  if (v < 9 || v > 15) throw std::invalid_argument(cfg.name(key) + " wants 9..15");
  return static_cast<int>(v);
}

class WebSocket : public gev::sdk::Protocol {
 public:
  static constexpr bool kAfterMessage = true;
  static constexpr const char* kAlpn = "http/1.1";  // the handshake is an HTTP/1.1 request

  explicit WebSocket(const gev::sdk::Config& cfg) : scratch_(kMaxLoops) {
    cfg.allow_only({"max_message", "max_head", "max_headers", "handshake_timeout_ms",
                    "close_timeout_ms", "subprotocols", "deflate", "deflate_threshold",
                    "deflate_level", "server_no_context_takeover", "client_no_context_takeover",
                    "server_max_window_bits", "client_max_window_bits"});
    max_message_ = cfg.get_uint("max_message", 16u << 20);
    hs_.max_head = cfg.get_uint("max_head", 8192);
    if (max_message_ == 0 || hs_.max_head < 64)
      throw std::invalid_argument("websocket.max_message must be > 0 and max_head >= 64");
    uint64_t max_headers = cfg.get_uint("max_headers", 100);
    if (max_headers == 0) throw std::invalid_argument("websocket.max_headers must be > 0");
    hs_.max_headers = static_cast<size_t>(max_headers);
    handshake_timeout_ns_ = cfg.get_uint("handshake_timeout_ms", 10000) * 1000000;
    close_timeout_ns_ = cfg.get_uint("close_timeout_ms", 5000) * 1000000;
    std::string list = cfg.get("subprotocols");
    for (size_t pos = 0; pos < list.size();) {
      size_t comma = list.find(',', pos);
      std::string p = list.substr(pos, comma == std::string::npos ? comma : comma - pos);
      if (!p.empty()) hs_.subprotocols.push_back(p);
      pos = comma == std::string::npos ? list.size() : comma + 1;
    }
    hs_.deflate.enabled = parse_flag(cfg, "deflate", true);
    hs_.deflate.server_no_context_takeover = parse_flag(cfg, "server_no_context_takeover", false);
    hs_.deflate.client_no_context_takeover = parse_flag(cfg, "client_no_context_takeover", false);
    hs_.deflate.server_max_window_bits = parse_bits(cfg, "server_max_window_bits");
    hs_.deflate.client_max_window_bits = parse_bits(cfg, "client_max_window_bits");
    deflate_threshold_ = cfg.get_uint("deflate_threshold", 1024);
    uint64_t level = cfg.get_uint("deflate_level", 1);
    if (level > 9) throw std::invalid_argument("websocket.deflate_level wants 0..9");
    deflate_level_ = static_cast<int>(level);
  }

  void* conn_open(Conn c) override {
    auto* ws = new WsConn;
    ws->conn = c.get();
    if (handshake_timeout_ns_)
      ws->timer = api()->timer_start(c.loop(), c.get(), handshake_timeout_ns_, 0, &timeout, ws);
    return ws;
  }

  void conn_close(Conn, void* cs) override { delete static_cast<WsConn*>(cs); }

  // The server is stopping: an open WebSocket gets close 1001 Going Away and we wait for
  // the peer's close (within close_timeout_ms), so a browser sees a clean close, not
  // 1006. One still closing does so by itself; one not upgraded yet the host closes.
  gev_status conn_stopping(Conn c, void* cs) override {
    auto* ws = static_cast<WsConn*>(cs);
    if (!ws) return GEV_ERR_UNSUPPORTED;
    if (ws->state == State::kOpen) {
      static constexpr char kGoingAway[] = "\x88\x11\x03\xe9server stopping";
      ws->state = State::kClosing;
      arm(c, *ws, close_timeout_ns_);
      debug(c, "server stopping: sending close 1001");
      send_raw(c, string_view(kGoingAway, sizeof kGoingAway - 1));  // last: it may close c
      return GEV_OK;
    }
    return ws->state == State::kClosing || ws->state == State::kDone ? GEV_OK
                                                                     : GEV_ERR_UNSUPPORTED;
  }

  void decode(Conn c, void* cs, gev_bytes in, gev_decode_result& out) override {
    auto* ws = static_cast<WsConn*>(cs);
    out.status = GEV_DECODE_NEED_MORE;
    out.consumed = 0;
    if (!ws) {
      out.status = GEV_DECODE_ERROR;
      out.error = "websocket: no connection state";
      return;
    }
    switch (ws->state) {
      case State::kHandshake:
        return handshake(c, *ws, in, out);
      case State::kVerdict:
        return;  // the handler has the request; nothing is read until it answers
      case State::kOpen:
      case State::kClosing:
        return frames(c, *ws, in, out);
      case State::kDone:
        out.consumed = in.len;  // the peer's last words are not wanted
        return;
    }
  }

  gev_status encode(Conn c, void* cs, const gev_frame& msg, gev::sdk::Writer& w) override {
    auto* ws = static_cast<WsConn*>(cs);
    if (!ws) return GEV_ERR_INVALID;
    switch (msg.type) {
      case kRaw:
        return w.append(msg.data);
      case GEV_WS_OPEN:
      case GEV_WS_HTTP:
        return GEV_OK;  // answered in after_message
      case GEV_WS_TEXT:
      case GEV_WS_BINARY:
        if (ws->state == State::kVerdict) accept(c, *ws, &w);  // sending implies accepting
        if (ws->state != State::kOpen) return GEV_OK;          // nothing goes out after a close
        return write_message(c, *ws, msg, w);
      case GEV_WS_PING:
      case GEV_WS_PONG:
      case GEV_WS_CLOSE:
        return write_control(c, *ws, msg, w);
      default:
        return GEV_ERR_INVALID;
    }
  }

  void after_message(Conn c, void* cs, const gev_frame& msg, gev_frame& reply,
                     gev_status status) override {
    auto* ws = static_cast<WsConn*>(cs);
    if (!ws || (msg.type != GEV_WS_OPEN && msg.type != GEV_WS_HTTP)) return;
    if (status == GEV_OK) {
      // Left alone, reply.type is the request's own (GEV_WS_HTTP is 257, GEV_WS_OPEN 256:
      // inside the status range) and reply.meta the request head: neither is an answer.
      bool has_status = reply.type != msg.type && reply.type >= 200 && reply.type <= 599;
      string_view type = reply.meta.ptr == msg.meta.ptr ? string_view{} : view(reply.meta);
      if (msg.type == GEV_WS_HTTP) {
        if (has_status) {
          answer(c, *ws, static_cast<int>(reply.type), view(reply.data), type);
        } else {
          answer(c, *ws, 426, "This is a WebSocket endpoint: upgrade to connect.\n", {});
        }
      } else if (ws->state == State::kVerdict) {
        if (has_status && reply.type >= 400) {
          debug(c, "upgrade refused by the handler with %u", reply.type);
          answer(c, *ws, static_cast<int>(reply.type), view(reply.data), type);
        } else {
          accept(c, *ws, nullptr);
        }
      }
    }
    // The answer is ours to write: the host encodes nothing more for this request.
    reply.type = msg.type;
    reply.data = {nullptr, 0};
    reply.meta = msg.meta;
  }

 private:
  using string_view = std::string_view;
  static string_view view(gev_bytes b) { return gev::sdk::view(b); }

  static void timeout(void* arg) {
    auto* ws = static_cast<WsConn*>(arg);
    ws->timer = 0;
    Conn c(ws->conn);
    debug(c, ws->state == State::kHandshake ? "handshake timed out" : "close timed out");
    c.abort();
  }

  static void debug(Conn c, const char* fmt, ...) __attribute__((format(printf, 2, 3))) {
    char line[256];
    int n = std::snprintf(line, sizeof line,
                          "conn %llu from %s: ", static_cast<unsigned long long>(c.id()),
                          c.peer_address().c_str());
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && static_cast<size_t>(n) < sizeof line)
      std::vsnprintf(line + n, sizeof line - static_cast<size_t>(n), fmt, ap);
    va_end(ap);
    gev::sdk::log(GEV_LOG_DEBUG, kName, line);
  }

  static void send_raw(Conn c, string_view bytes) {
    gev_frame f{sizeof(gev_frame), kRaw, gev::sdk::bytes(bytes), {nullptr, 0}};
    c.send(f);
  }

  void arm(Conn c, WsConn& ws, uint64_t ns) {
    if (ws.timer) api()->timer_cancel(c.loop(), ws.timer);
    ws.timer = ns ? api()->timer_start(c.loop(), c.get(), ns, 0, &timeout, &ws) : 0;
  }

  // Our side is done: shut the write side once queued output is out, drop further
  // input, and give the peer close_timeout_ms to close its side.
  void finish(Conn c, WsConn& ws) {
    ws.state = State::kDone;
    ws.message.release();
    ws.inflater.reset();
    ws.deflater.reset();
    c.shutdown_write();
    arm(c, ws, close_timeout_ns_);
  }

  void answer(Conn c, WsConn& ws, int status, string_view body, string_view type) {
    send_raw(c, http_response(status, body, type));
    ws.response.clear();
    finish(c, ws);
  }

  void accept(Conn c, WsConn& ws, gev::sdk::Writer* w) {
    if (w) {
      w->append(gev::sdk::bytes(string_view(ws.response)));
    } else {
      send_raw(c, ws.response);
    }
    std::string().swap(ws.response);
    ws.state = State::kOpen;
    arm(c, ws, 0);
  }

  void handshake(Conn c, WsConn& ws, gev_bytes in, gev_decode_result& out) {
    Handshake h = parse_handshake(view(in), hs_);
    switch (h.kind) {
      case Handshake::Kind::kNeedMore:
        return;
      case Handshake::Kind::kReject:
        debug(c, "handshake refused with %d: %s", h.status, h.error);
        answer(c, ws, h.status, std::string(h.error) + "\n", {});
        out.consumed = in.len;
        return;
      case Handshake::Kind::kUpgrade:
      case Handshake::Kind::kPlainGet:
        ws.response = std::move(h.response);
        ws.deflate = h.deflate;
        ws.state = State::kVerdict;
        out.status = GEV_DECODE_FRAME;
        out.consumed = h.head_size;
        out.frame.type = h.kind == Handshake::Kind::kUpgrade ? GEV_WS_OPEN : GEV_WS_HTTP;
        out.frame.data = {in.ptr, 0};
        out.frame.meta = {in.ptr, h.head_size - 2};  // each line with its CRLF
        return;
    }
  }

  // Sends a close frame with `code` (unless we already did) and ends the connection
  // (RFC 6455 7.1.7, "Fail the WebSocket Connection").
  void fail(Conn c, WsConn& ws, uint16_t code, const char* why) {
    debug(c, "closing with %u: %s", code, why);
    if (ws.state == State::kOpen) send_close(c, code);
    finish(c, ws);
  }

  static void send_close(Conn c, uint16_t code) {
    // Code 0: an empty close (payload length 0), answering the peer's empty close.
    uint8_t f[4] = {0x88, static_cast<uint8_t>(code ? 2 : 0), static_cast<uint8_t>(code >> 8),
                    static_cast<uint8_t>(code)};
    send_raw(c, string_view(reinterpret_cast<const char*>(f), code ? 4 : 2));
  }

  void frames(Conn c, WsConn& ws, gev_bytes in, gev_decode_result& out) {
    const uint8_t* p = in.ptr;
    size_t n = static_cast<size_t>(in.len);
    size_t off = 0;
    while (ws.state == State::kOpen || ws.state == State::kClosing) {
      if (!ws.in_frame) {
        FrameHeader h;
        int hl = parse_header(p + off, n - off, h);
        if (hl == 0) break;
        if (hl < 0) return fail(c, ws, 1002, "frame length over 2^63"), discard(in, out);
        if (const char* why = check(ws, h)) return fail(c, ws, 1002, why), discard(in, out);
        if (is_control(h.opcode)) {
          if (n - off < static_cast<size_t>(hl) + h.length) break;  // whole control frames only
          control(c, ws, h, p + off + hl);
          off += static_cast<size_t>(hl) + h.length;
          if (ws.state == State::kDone) return discard(in, out);
          continue;
        }
        uint64_t so_far = h.opcode == kContinuation ? ws.wire_bytes : 0;
        if (h.length > max_message_ - so_far)
          return fail(c, ws, 1009, "message over max_message"), discard(in, out);
        if (whole_message(h, n - off - static_cast<size_t>(hl)) && ws.state == State::kOpen) {
          // The common case, a one-frame message all here: unmask it where it lies (the
          // input is the host's read buffer, ours to rewrite: gev_protocol.h) and hand
          // back a view into it, which the host then sends from without a copy.
          auto* body = const_cast<uint8_t*>(p + off + hl);
          auto len = static_cast<size_t>(h.length);
          unmask_copy(body, body, len, h.mask, 0);
          if (h.opcode == kText && !valid_utf8(body, len))
            return fail(c, ws, 1007, "text is not UTF-8"), discard(in, out);
          return frame_out(out, off + static_cast<size_t>(hl) + len, h.opcode, body, len);
        }
        if (h.opcode != kContinuation) start_message(ws, h);
        ws.in_frame = true;
        ws.frame = h;
        ws.remaining = h.length;
        ws.offset = 0;
        ws.wire_bytes += h.length;
        off += static_cast<size_t>(hl);
        if (!ws.compressed && h.fin) {
          size_t here = n - off < h.length ? n - off : static_cast<size_t>(h.length);
          ws.message.reserve(ws.message.size() + here);
        }
      }
      size_t take = n - off < ws.remaining ? n - off : static_cast<size_t>(ws.remaining);
      if (take && !payload(c, ws, p + off, take)) return discard(in, out);
      off += take;
      ws.remaining -= take;
      ws.offset += take;
      if (ws.remaining > 0) break;
      ws.in_frame = false;
      if (!ws.frame.fin) continue;
      if (!end_message(c, ws)) return discard(in, out);
      if (ws.state != State::kOpen) continue;  // after our close, messages are dropped
      return frame_out(out, off, ws.opcode, ws.message.data(), ws.message.size());
    }
    out.consumed = ws.state == State::kDone ? n : off;
  }

  // An unfragmented, uncompressed message whose payload (len bytes) is all in the input.
  static bool whole_message(const FrameHeader& h, size_t len) {
    return h.fin && h.opcode != kContinuation && !(h.rsv & kRsv1) && h.length <= len;
  }

  static void frame_out(gev_decode_result& out, size_t consumed, uint8_t opcode,
                        const uint8_t* data, size_t len) {
    out.status = GEV_DECODE_FRAME;
    out.consumed = consumed;
    out.frame.type = opcode;
    // A non-null pointer even for an empty message: an empty view that is not null is
    // a message (and the echo of one), a null one would be no message at all.
    static const uint8_t kEmpty[1] = {0};
    out.frame.data = {len ? data : kEmpty, len};
    out.frame.meta = {nullptr, 0};
  }

  static void discard(gev_bytes in, gev_decode_result& out) {
    out.status = GEV_DECODE_NEED_MORE;
    out.consumed = in.len;
  }

  // RFC 6455 5.2-5.5: what a client frame header may not be.
  const char* check(const WsConn& ws, const FrameHeader& h) const {
    if (!h.masked) return "unmasked client frame";
    if (!is_known_opcode(h.opcode)) return "reserved opcode";
    if (h.rsv & ~kRsv1) return "RSV2/RSV3 set";
    if (is_control(h.opcode)) {
      if (!h.fin) return "fragmented control frame";
      if (h.length > 125) return "control frame over 125 bytes";
      if (h.rsv) return "RSV1 on a control frame";
      return nullptr;
    }
    if (h.opcode == kContinuation) {
      if (!ws.in_message) return "continuation without a message";
      if (h.rsv) return "RSV1 on a continuation frame";
    } else {
      if (ws.in_message) return "new message inside a fragmented one";
      if (h.rsv && !ws.deflate.on) return "RSV1 without permessage-deflate";
    }
    return nullptr;
  }

  void control(Conn c, WsConn& ws, const FrameHeader& h, const uint8_t* masked) {
    uint8_t frame[2 + 125];
    size_t len = static_cast<size_t>(h.length);
    uint8_t* payload = frame + 2;
    unmask_copy(payload, masked, len, h.mask, 0);
    switch (h.opcode) {
      case kPing:
        if (ws.state != State::kOpen) return;
        frame[0] = 0x80 | kPong;
        frame[1] = static_cast<uint8_t>(len);
        send_raw(c, string_view(reinterpret_cast<const char*>(frame), 2 + len));
        return;
      case kPong:
        return;  // unsolicited pongs are allowed and ignored (5.5.3)
      case kClose: {
        uint16_t code = 0;
        if (len == 1) return fail(c, ws, 1002, "close payload of 1 byte");
        if (len >= 2) {
          code = static_cast<uint16_t>((payload[0] << 8) | payload[1]);
          if (!valid_close_code(code)) return fail(c, ws, 1002, "invalid close code");
          if (!valid_utf8(payload + 2, len - 2)) return fail(c, ws, 1007, "close reason not UTF-8");
        }
        debug(c, "peer closed with %u", code);
        if (ws.state == State::kOpen) send_close(c, code);  // echo the code (5.5.1)
        return finish(c, ws);
      }
    }
  }

  void start_message(WsConn& ws, const FrameHeader& h) {
    ws.in_message = true;
    ws.opcode = h.opcode;
    ws.compressed = h.rsv & kRsv1;
    ws.wire_bytes = 0;
    ws.utf8.reset();
    if (ws.message.capacity() > (64u << 10)) ws.message.release();  // big one is over
    ws.message.clear();
  }

  bool ensure_inflater(Conn c, WsConn& ws) {
    if (!ws.inflater) ws.inflater = std::make_unique<Inflater>();
    if (!ws.inflater->ok()) return fail(c, ws, 1011, "inflater setup failed"), false;
    return true;
  }

  // Takes a piece of payload: unmask, inflate if compressed, check UTF-8 if text.
  bool payload(Conn c, WsConn& ws, const uint8_t* src, size_t n) {
    size_t before = ws.message.size();
    if (!ws.compressed) {
      unmask_copy(ws.message.grow(n), src, n, ws.frame.mask, ws.offset);
    } else {
      if (!ensure_inflater(c, ws)) return false;
      uint8_t chunk[16 * 1024];
      for (size_t done = 0; done < n;) {
        size_t k = n - done < sizeof chunk ? n - done : sizeof chunk;
        unmask_copy(chunk, src + done, k, ws.frame.mask, ws.offset + done);
        if (!inflated(c, ws, ws.inflater->feed(chunk, k, ws.message, max_message_), before))
          return false;
        before = ws.message.size();
        done += k;
      }
      return true;
    }
    if (ws.opcode == kText && !ws.utf8.feed(ws.message.data() + before, n))
      return fail(c, ws, 1007, "text is not UTF-8"), false;
    return true;
  }

  // Checks the result of an inflate step and the text it produced.
  bool inflated(Conn c, WsConn& ws, Inflater::Result r, size_t before) {
    if (r == Inflater::Result::kTooBig)
      return fail(c, ws, 1009, "inflated message over max_message"), false;
    if (r == Inflater::Result::kError) return fail(c, ws, 1007, "bad deflate data"), false;
    if (ws.opcode == kText && !ws.utf8.feed(ws.message.data() + before, ws.message.size() - before))
      return fail(c, ws, 1007, "text is not UTF-8"), false;
    return true;
  }

  bool end_message(Conn c, WsConn& ws) {
    ws.in_message = false;
    if (ws.compressed) {
      if (!ensure_inflater(c, ws)) return false;  // a message of empty frames
      size_t before = ws.message.size();
      bool reset = ws.deflate.client_no_context_takeover;
      if (!inflated(c, ws, ws.inflater->finish(ws.message, max_message_, reset), before))
        return false;
    }
    if (ws.opcode == kText && !ws.utf8.complete())
      return fail(c, ws, 1007, "text ends inside a UTF-8 sequence"), false;
    return true;
  }

  gev_status write_message(Conn c, WsConn& ws, const gev_frame& msg, gev::sdk::Writer& w) {
    auto opcode = static_cast<uint8_t>(msg.type);
    if (ws.deflate.on && msg.data.len >= deflate_threshold_) {
      if (!ws.deflater)
        ws.deflater = std::make_unique<Deflater>(deflate_level_, ws.deflate.server_window_bits);
      if (!ws.deflater->ok()) return GEV_ERR_NOMEM;
      uint32_t loop = api()->loop_index(c.loop());
      std::vector<uint8_t> local;
      std::vector<uint8_t>& out = loop < scratch_.size() ? scratch_[loop] : local;
      if (!ws.deflater->compress(msg.data.ptr, static_cast<size_t>(msg.data.len), out,
                                 ws.deflate.server_no_context_takeover))
        return GEV_ERR_MODULE;
      uint8_t* h = w.reserve(header_size(out.size()));
      if (!h) return GEV_ERR_NOMEM;
      write_header(h, opcode, true, out.size());
      gev_status st = w.append(std::span<const uint8_t>(out.data(), out.size()));
      if (out.capacity() > (1u << 20)) std::vector<uint8_t>().swap(out);
      return st;
    }
    uint8_t* h = w.reserve(header_size(msg.data.len));
    if (!h) return GEV_ERR_NOMEM;
    write_header(h, opcode, false, msg.data.len);
    return msg.data.len ? w.append(msg.data) : GEV_OK;
  }

  gev_status write_control(Conn c, WsConn& ws, const gev_frame& msg, gev::sdk::Writer& w) {
    size_t len = static_cast<size_t>(msg.data.len);
    if (len > 125) return GEV_ERR_INVALID;  // 5.5: control payloads are short
    if (msg.type == GEV_WS_CLOSE && len > 0) {
      if (len == 1) return GEV_ERR_INVALID;
      uint32_t code = (uint32_t{msg.data.ptr[0]} << 8) | msg.data.ptr[1];
      if (!valid_close_code(code)) return GEV_ERR_INVALID;
    }
    if (ws.state == State::kVerdict) accept(c, ws, &w);
    if (ws.state != State::kOpen) return GEV_OK;
    uint8_t* h = w.reserve(2);
    if (!h) return GEV_ERR_NOMEM;
    write_header(h, static_cast<uint8_t>(msg.type), false, len);
    gev_status st = len ? w.append(msg.data) : GEV_OK;
    if (msg.type == GEV_WS_CLOSE) {
      // The handler closes: wait for the peer's close (then shut down), within a deadline.
      ws.state = State::kClosing;
      arm(c, ws, close_timeout_ns_);
    }
    return st;
  }

  HandshakeConfig hs_;
  uint64_t max_message_ = 0;
  uint64_t handshake_timeout_ns_ = 0;
  uint64_t close_timeout_ns_ = 0;
  uint64_t deflate_threshold_ = 1024;
  int deflate_level_ = 1;
  std::vector<std::vector<uint8_t>> scratch_;  // per loop: compressed output
};

}  // namespace

GEV_PROTOCOL_MODULE(WebSocket, "websocket", "1.0.0")
