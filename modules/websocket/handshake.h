// The opening handshake (RFC 6455 4.2): parsing a client's request head, choosing a
// subprotocol and permessage-deflate parameters (RFC 7692 7.1), and the responses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gev::ws {

struct DeflateConfig {
  bool enabled = true;
  bool server_no_context_takeover = false;  // forced into every acceptance
  bool client_no_context_takeover = false;
  int server_max_window_bits = 15;  // 9..15 (zlib cannot do 8 for raw deflate)
  int client_max_window_bits = 15;
};

struct HandshakeConfig {
  size_t max_head = 8192;
  size_t max_headers = 100;               // header lines after the request line; more: 431
  std::vector<std::string> subprotocols;  // server preference order
  DeflateConfig deflate;
};

// What was agreed for one connection.
struct Deflate {
  bool on = false;
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  int server_window_bits = 15;
};

struct Handshake {
  enum class Kind {
    kNeedMore,  // no complete head yet
    kUpgrade,   // a valid WebSocket upgrade: `response` is the 101
    kPlainGet,  // a GET without Upgrade: the handler may answer it
    kReject,    // `status` and `error` say why; answer and close
  };
  Kind kind = Kind::kNeedMore;
  size_t head_size = 0;  // bytes of the head including the blank line
  int status = 0;
  const char* error = nullptr;
  std::string response;  // kUpgrade: the whole 101 response
  Deflate deflate;
};

Handshake parse_handshake(std::string_view in, const HandshakeConfig& config);

// Sec-WebSocket-Accept for a client key (SHA-1 and base64 from OpenSSL's libcrypto).
std::string accept_key(std::string_view key);

// A complete HTTP/1.1 response that ends the connection.
std::string http_response(int status, std::string_view body, std::string_view content_type = {});

// Chooses from one Sec-WebSocket-Extensions value; empty if no offer is acceptable.
std::string negotiate_deflate(std::string_view offers, const DeflateConfig& config, Deflate* out);

}  // namespace gev::ws
