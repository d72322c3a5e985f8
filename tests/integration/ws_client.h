// WsClient: a blocking raw-socket WebSocket client for the websocket module's tests. It
// sends whatever handshake or frame bytes a test asks for (valid or not), reads the
// server's HTTP response and frames with deadlines, checks what RFC 6455 requires of the
// server (accept key, unmasked frames), and speaks permessage-deflate when negotiated.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ws_deflate.h"
#include "ws_frame.h"

namespace gev::test::ws {

// The RFC 6455 1.3 example key and its accept value, for known-answer checks.
inline constexpr std::string_view kSampleKey = "dGhlIHNhbXBsZSBub25jZQ==";
inline constexpr std::string_view kSampleAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

// base64(sha1(key + GUID)) computed with libcrypto (RFC 6455 4.2.2).
std::string accept_key(std::string_view key);
std::string base64(std::string_view bytes);

// An opening handshake; each header left nullopt is not sent at all.
struct Handshake {
  std::string method = "GET";
  std::string target = "/chat";
  std::string http_version = "HTTP/1.1";
  std::optional<std::string> host = "127.0.0.1";
  std::optional<std::string> upgrade = "websocket";
  std::optional<std::string> connection = "Upgrade";
  std::optional<std::string> key = std::string(kSampleKey);
  std::optional<std::string> version = "13";
  std::optional<std::string> extensions;                   // Sec-WebSocket-Extensions
  std::optional<std::string> protocols;                    // Sec-WebSocket-Protocol
  std::vector<std::pair<std::string, std::string>> extra;  // sent as given, after the rest
  std::string trailing;  // bytes sent in the same write right after the head

  std::string head() const;
};

struct HttpResponse {
  int status = 0;  // 0: no complete status line arrived
  std::string status_line;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // Content-Length bytes, for non-101 answers
  // The first header of that name (case-insensitive).
  std::optional<std::string> header(std::string_view name) const;
  size_t count(std::string_view name) const;
};

// A whole server message (the server sends one frame per message); inflated if RSV1.
struct Message {
  uint8_t opcode = 0;
  bool compressed = false;
  std::string payload;
  size_t wire_payload_size = 0;  // the frame's payload size as sent (compressed size)
};

class WsClient {
 public:
  explicit WsClient(uint16_t port);
  ~WsClient();
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  bool connected() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  // Sends h.head() + h.trailing and reads the response head (and body for non-101).
  // On 101 it checks Sec-WebSocket-Accept against h.key and sets up permessage-deflate
  // from Sec-WebSocket-Extensions (failing the check on an invalid answer).
  HttpResponse handshake(const Handshake& h = {}, int timeout_ms = 5000);
  // Sends `raw` as the request and reads the response the same way.
  HttpResponse raw_handshake(std::string_view raw, std::string_view key = kSampleKey,
                             int timeout_ms = 5000);
  // handshake() that must succeed with 101.
  void open(const Handshake& h = {});

  const std::optional<DeflateParams>& deflate() const { return deflate_; }

  // Raw bytes; false if the socket refused them (peer gone). No test assertions here, so
  // it may run on a helper thread.
  bool send_raw(std::string_view bytes);
  // In `chunk`-byte writes with `pause_ms` between them (TCP_NODELAY is on, so each
  // write is its own segment and the server sees them apart).
  bool send_chunked(std::string_view bytes, size_t chunk, int pause_ms = 1);
  bool send(const Frame& f) { return send_raw(encode(f)); }
  // A whole message in one frame; compressed with the negotiated deflate if asked.
  std::string message_bytes(uint8_t opcode, std::string_view payload, bool compress = false);
  bool send_message(uint8_t opcode, std::string_view payload, bool compress = false) {
    return send_raw(message_bytes(opcode, payload, compress));
  }
  // The client's compressor (negotiated parameters); for hand-built compressed frames.
  std::string compress(std::string_view payload);

  // The next frame within timeout_ms: nullopt on timeout or EOF (eof() tells). Fails the
  // check if the server masked it.
  std::optional<Received> read_frame(int timeout_ms = 5000);
  // The next frame as a message, inflated when RSV1 is set.
  std::optional<Message> read_message(int timeout_ms = 5000);

  // Checks that the next frame is a final `opcode` message carrying exactly `payload`.
  void expect_message(uint8_t opcode, std::string_view payload, int timeout_ms = 5000);
  void expect_echo(uint8_t opcode, std::string_view payload, bool compress = false) {
    send_message(opcode, payload, compress);
    expect_message(opcode, payload);
  }
  // Reads the next frame, which must be a close with `code` (nullopt: an empty close);
  // no other frame may come first. Then the server must close TCP within timeout_ms.
  // Answers the close (if the server started it) so the server can finish at once.
  // Returns the close frame's payload.
  std::string expect_close(std::optional<uint16_t> code, int timeout_ms = 5000);
  // The same, for a close with any one of `codes` (where the RFC leaves the choice open).
  std::string expect_close_of(std::initializer_list<uint16_t> codes, int timeout_ms = 5000);
  // The server starts a closing handshake and waits for us: the next frame must be a
  // close with `code`; we answer it, and then the server must close TCP within
  // timeout_ms. Returns the close frame's payload.
  std::string answer_close(uint16_t code, int timeout_ms = 5000);
  // True if nothing arrives for quiet_ms (and the connection stays open).
  bool quiet(int quiet_ms = 200);
  // True once the peer has closed TCP (EOF or reset) within timeout_ms; data that
  // arrives first is discarded.
  bool wait_tcp_closed(int timeout_ms = 5000);
  bool eof() const { return eof_; }
  void close();

 private:
  bool fill(int timeout_ms);  // one recv into in_, false on timeout/EOF
  std::string nothing_because() const;
  std::string close_with(const std::vector<uint16_t>& codes,
                         int timeout_ms);  // why no frame came, for failure messages
  HttpResponse read_response(std::string_view key, int timeout_ms);

  int fd_ = -1;
  bool eof_ = false;
  std::string in_;
  size_t in_pos_ = 0;
  std::optional<DeflateParams> deflate_;
  std::unique_ptr<Deflater> deflater_;
  std::unique_ptr<Inflater> inflater_;
};

}  // namespace gev::test::ws
