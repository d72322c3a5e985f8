// WsClient: sockets, the handshake and frame reading with deadlines.
#include "ws_client.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <thread>

namespace gev::test::ws {

namespace {

using Clock = std::chrono::steady_clock;

int ms_left(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<int64_t>(0, left.count()));
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// Short printable description of bytes for failure messages.
std::string show(std::string_view s) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < s.size() && i < 48; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  if (s.size() > 48) out += "...(" + std::to_string(s.size()) + " bytes)";
  return out;
}

}  // namespace

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string accept_key(std::string_view key) {
  const std::string in = std::string(key) + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(in.data(), in.size(), md, &len, EVP_sha1(), nullptr);
  return base64(std::string_view(reinterpret_cast<const char*>(md), len));
}

std::string Handshake::head() const {
  std::string h = method + " " + target + " " + http_version + "\r\n";
  auto add = [&h](std::string_view name, const std::optional<std::string>& v) {
    if (v) h += std::string(name) + ": " + *v + "\r\n";
  };
  add("Host", host);
  add("Upgrade", upgrade);
  add("Connection", connection);
  add("Sec-WebSocket-Key", key);
  add("Sec-WebSocket-Version", version);
  add("Sec-WebSocket-Extensions", extensions);
  add("Sec-WebSocket-Protocol", protocols);
  for (const auto& [name, value] : extra) h += name + ": " + value + "\r\n";
  return h + "\r\n";
}

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (iequals(n, name)) return v;
  return std::nullopt;
}

size_t HttpResponse::count(std::string_view name) const {
  return static_cast<size_t>(std::count_if(headers.begin(), headers.end(),
                                           [&](const auto& h) { return iequals(h.first, name); }));
}

WsClient::WsClient(uint16_t port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd_);
    fd_ = -1;
    return;
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // A server that stops reading must not hang the suite: sends give up after 10 s.
  timeval tv{10, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

WsClient::~WsClient() {
  close();
}

void WsClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool WsClient::send_raw(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool WsClient::send_chunked(std::string_view bytes, size_t chunk, int pause_ms) {
  for (size_t i = 0; i < bytes.size(); i += chunk) {
    if (!send_raw(bytes.substr(i, chunk))) return false;
    if (pause_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
  }
  return true;
}

bool WsClient::fill(int timeout_ms) {
  if (fd_ < 0 || eof_) return false;
  if (in_pos_ > 0 && in_pos_ == in_.size()) {
    in_.clear();
    in_pos_ = 0;
  } else if (in_pos_ > (1u << 20)) {
    in_.erase(0, in_pos_);
    in_pos_ = 0;
  }
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, ms_left(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    char buf[65536];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {  // EOF, or a reset: either way the server is gone
      eof_ = true;
      return false;
    }
    in_.append(buf, static_cast<size_t>(n));
    return true;
  }
}

HttpResponse WsClient::read_response(std::string_view key, int timeout_ms) {
  HttpResponse r;
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  size_t end;
  while ((end = in_.find("\r\n\r\n", in_pos_)) == std::string::npos)
    if (!fill(ms_left(deadline))) return r;
  std::string_view head(in_.data() + in_pos_, end - in_pos_);
  in_pos_ = end + 4;
  size_t eol = head.find("\r\n");
  r.status_line = std::string(head.substr(0, eol));
  if (r.status_line.size() >= 12 && r.status_line.starts_with("HTTP/1.1 "))
    r.status = std::stoi(r.status_line.substr(9, 3));
  while (eol != std::string_view::npos) {
    head.remove_prefix(eol + 2);
    eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
    r.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
  }
  if (r.status == 101) {
    CHECK_MESSAGE(r.header("Sec-WebSocket-Accept") == accept_key(key),
                  "Sec-WebSocket-Accept for key " << key);
    std::string error;
    if (auto ext = r.header("Sec-WebSocket-Extensions")) {
      deflate_ = parse_deflate_response(*ext, &error);
      CHECK_MESSAGE(error.empty(), "invalid extension answer '" << *ext << "': " << error);
    }
    if (deflate_) {
      deflater_ = std::make_unique<Deflater>(deflate_->client_max_window_bits,
                                             deflate_->client_no_context_takeover);
      inflater_ = std::make_unique<Inflater>(deflate_->server_max_window_bits,
                                             deflate_->server_no_context_takeover);
    }
    return r;
  }
  const size_t length = r.header("Content-Length") ? std::stoul(*r.header("Content-Length")) : 0;
  while (in_.size() - in_pos_ < length && fill(ms_left(deadline))) {
  }
  r.body = in_.substr(in_pos_, std::min(length, in_.size() - in_pos_));
  in_pos_ += r.body.size();
  return r;
}

HttpResponse WsClient::handshake(const Handshake& h, int timeout_ms) {
  send_raw(h.head() + h.trailing);
  return read_response(h.key.value_or(""), timeout_ms);
}

HttpResponse WsClient::raw_handshake(std::string_view raw, std::string_view key, int timeout_ms) {
  send_raw(raw);
  return read_response(key, timeout_ms);
}

void WsClient::open(const Handshake& h) {
  REQUIRE_MESSAGE(connected(), "connect to 127.0.0.1 failed");
  HttpResponse r = handshake(h);
  REQUIRE_MESSAGE(r.status == 101, "handshake answered '" << r.status_line << "'");
  CHECK(r.header("Upgrade").has_value());
  CHECK(iequals(r.header("Upgrade").value_or(""), "websocket"));
  CHECK(iequals(r.header("Connection").value_or(""), "Upgrade"));
}

std::string WsClient::compress(std::string_view payload) {
  REQUIRE_MESSAGE(deflater_, "permessage-deflate was not negotiated");
  return deflater_->compress(payload);
}

std::string WsClient::message_bytes(uint8_t opcode, std::string_view payload, bool compress) {
  Frame f;
  f.opcode = opcode;
  f.rsv1 = compress;
  f.payload = compress ? this->compress(payload) : std::string(payload);
  // A different mask key per frame, so a server that reuses one would be caught.
  static uint32_t seed = 0x9e3779b9u;
  for (auto& b : f.mask_key) {
    seed = seed * 1664525u + 1013904223u;
    b = static_cast<uint8_t>(seed >> 24);
  }
  return encode(f);
}

std::optional<Received> WsClient::read_frame(int timeout_ms) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    if (auto f = parse(std::string_view(in_).substr(in_pos_))) {
      in_pos_ += f->wire_size;
      CHECK_MESSAGE(!f->masked, "the server masked a frame (RFC 6455 5.1)");
      return f;
    }
    if (!fill(ms_left(deadline))) return std::nullopt;
  }
}

std::optional<Message> WsClient::read_message(int timeout_ms) {
  auto f = read_frame(timeout_ms);
  if (!f) return std::nullopt;
  CHECK_MESSAGE(f->fin, "server messages are single frames (FIN=1)");
  CHECK_MESSAGE(!f->rsv2, "server set RSV2");
  CHECK_MESSAGE(!f->rsv3, "server set RSV3");
  CHECK_MESSAGE(minimal_length(*f), "server used a " << f->length_bits << "-bit length for "
                                                     << f->payload.size() << " bytes");
  Message m{f->opcode, f->rsv1, std::move(f->payload), 0};
  m.wire_payload_size = m.payload.size();
  if (m.compressed) {
    REQUIRE_MESSAGE(inflater_, "RSV1 set without permessage-deflate");
    auto plain = inflater_->inflate(m.payload);
    REQUIRE_MESSAGE(plain, "server's compressed frame does not inflate: " << show(m.payload));
    m.payload = std::move(*plain);
  }
  return m;
}

std::string WsClient::nothing_because() const {
  std::string why = eof_ ? "TCP close" : "nothing (timeout)";
  // A frame cut short by the close is the interesting part: show its bytes.
  if (in_.size() > in_pos_)
    why += " after " + std::to_string(in_.size() - in_pos_) +
           " bytes of an incomplete frame: " + show(std::string_view(in_).substr(in_pos_));
  return why;
}

void WsClient::expect_message(uint8_t opcode, std::string_view payload, int timeout_ms) {
  auto m = read_message(timeout_ms);
  REQUIRE_MESSAGE(m, "expected opcode " << int(opcode) << " with " << show(payload) << ", got "
                                        << nothing_because());
  CHECK_MESSAGE(m->opcode == opcode,
                "expected opcode " << int(opcode) << ", got " << int(m->opcode)
                                   << (m->opcode == kClose ? " close " + show(m->payload) : ""));
  if (m->payload != payload)
    FAIL_CHECK("payload differs: expected " << show(payload) << ", got " << show(m->payload));
}

std::string WsClient::expect_close(std::optional<uint16_t> code, int timeout_ms) {
  return code ? close_with({*code}, timeout_ms) : close_with({}, timeout_ms);
}

std::string WsClient::expect_close_of(std::initializer_list<uint16_t> codes, int timeout_ms) {
  return close_with(std::vector<uint16_t>(codes), timeout_ms);
}

std::string WsClient::close_with(const std::vector<uint16_t>& codes, int timeout_ms) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string want;
  for (uint16_t code : codes) want += (want.empty() ? "" : " or ") + std::to_string(code);
  if (want.empty()) want = "no code (empty)";
  auto f = read_frame(timeout_ms);
  REQUIRE_MESSAGE(f, "expected a close frame with " << want << ", got " << nothing_because());
  REQUIRE_MESSAGE(f->opcode == kClose, "expected a close frame, got opcode "
                                           << int(f->opcode) << " " << show(f->payload));
  CHECK(f->fin);
  if (!codes.empty()) {
    REQUIRE_MESSAGE(f->payload.size() >= 2, "close without a code, expected " << want);
    const auto got = static_cast<uint16_t>(static_cast<uint8_t>(f->payload[0]) << 8 |
                                           static_cast<uint8_t>(f->payload[1]));
    CHECK_MESSAGE(std::find(codes.begin(), codes.end(), got) != codes.end(),
                  "close code " << got << ", expected " << want << " (reason '"
                                << show(f->payload.substr(2)) << "')");
  } else {
    CHECK_MESSAGE(f->payload.empty(), "expected an empty close, got " << show(f->payload));
  }
  // The server shuts its write side right after its close frame: EOF with nothing more.
  const size_t before = in_.size() - in_pos_;
  while (fill(ms_left(deadline))) {
  }
  const bool closed = eof_;
  CHECK_MESSAGE(in_.size() - in_pos_ == before, "bytes after the server's close frame: "
                                                    << show(std::string_view(in_).substr(in_pos_)));
  CHECK_MESSAGE(closed, "server did not close TCP within " << timeout_ms << " ms of its close");
  // Finish the closing handshake so the server need not wait for close_timeout_ms.
  Frame reply;
  reply.opcode = kClose;
  reply.payload = close_payload(1000);
  send(reply);
  close();
  return f->payload;
}

std::string WsClient::answer_close(uint16_t code, int timeout_ms) {
  auto f = read_frame(timeout_ms);
  REQUIRE_MESSAGE(f, "expected a close frame with " << code << ", got " << nothing_because());
  REQUIRE_MESSAGE(f->opcode == kClose, "expected a close frame, got opcode " << int(f->opcode));
  REQUIRE_MESSAGE(f->payload.size() >= 2, "close without a code, expected " << code);
  const auto got = static_cast<uint16_t>(static_cast<uint8_t>(f->payload[0]) << 8 |
                                         static_cast<uint8_t>(f->payload[1]));
  CHECK_MESSAGE(got == code, "close code " << got << ", expected " << code);
  Frame reply;
  reply.opcode = kClose;
  reply.payload = f->payload.substr(0, 2);  // echo the code (RFC 6455 5.5.1)
  send(reply);
  CHECK_MESSAGE(wait_tcp_closed(timeout_ms),
                "server did not close TCP within " << timeout_ms << " ms of our answer");
  close();
  return f->payload;
}

bool WsClient::quiet(int quiet_ms) {
  if (in_.size() > in_pos_) return false;
  return !fill(quiet_ms) && !eof_;
}

bool WsClient::wait_tcp_closed(int timeout_ms) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (fd_ >= 0 && !eof_ && ms_left(deadline) > 0) fill(ms_left(deadline));
  return eof_;
}

}  // namespace gev::test::ws
