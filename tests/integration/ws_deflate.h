// permessage-deflate (RFC 7692) for the test client: the negotiated parameters parsed
// from the server's response, and zlib raw-deflate streams that strip / restore the
// 00 00 ff ff tail and keep or reset their window between messages.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace gev::test::ws {

// What the server's Sec-WebSocket-Extensions answer agreed to.
struct DeflateParams {
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  int server_max_window_bits = 15;
  int client_max_window_bits = 15;
};

// Parses a Sec-WebSocket-Extensions response value. nullopt when it does not accept
// permessage-deflate; *error is set when it does but in a way a client must reject
// (unknown or duplicate parameter, bad value, more than one extension answered).
std::optional<DeflateParams> parse_deflate_response(std::string_view value, std::string* error);

// A compressor for one direction: each message is deflated with a sync flush and the
// trailing 00 00 ff ff removed (RFC 7692 7.2.1).
class Deflater {
 public:
  Deflater(int window_bits, bool no_context_takeover, int level = 6);
  ~Deflater();
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;
  std::string compress(std::string_view message);

 private:
  struct State;
  std::unique_ptr<State> s_;
  bool no_context_takeover_;
};

// The matching decompressor: appends 00 00 ff ff and inflates (RFC 7692 7.2.2).
class Inflater {
 public:
  Inflater(int window_bits, bool no_context_takeover);
  ~Inflater();
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;
  // nullopt on corrupt data or when the output would exceed `limit` bytes.
  std::optional<std::string> inflate(std::string_view compressed, size_t limit = 1u << 30);

 private:
  struct State;
  std::unique_ptr<State> s_;
  bool no_context_takeover_;
};

// One message compressed by a fresh stream (no context), tail stripped.
std::string deflate_message(std::string_view message, int window_bits = 15, int level = 9);

}  // namespace gev::test::ws
