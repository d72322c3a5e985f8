// gev-load --ws: client handshake, frame writing and reading, permessage-deflate.
#include "ws_client.h"

#include <openssl/ssl.h>

#include <errno.h>
#include <openssl/evp.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <string_view>

namespace gev::load::ws {
namespace {

constexpr size_t kMaxResponseHead = 16 * 1024;
constexpr char kGuid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

std::string Base64(const uint8_t* p, size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), p, static_cast<int>(n));
  out.resize(static_cast<size_t>(len));
  return out;
}

std::string Lower(std::string_view s) {
  std::string r(s);
  for (char& ch : r) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return r;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Splits s at `sep` into trimmed pieces (empty ones dropped).
std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  while (!s.empty()) {
    size_t at = s.find(sep);
    std::string_view part = Trim(s.substr(0, at));
    if (!part.empty()) parts.push_back(part);
    if (at == std::string_view::npos) break;
    s.remove_prefix(at + 1);
  }
  return parts;
}

// send / read, or over TLS SSL_write / SSL_read (the socket is still blocking here).
ssize_t SendSome(int fd, SSL* ssl, const char* p, size_t n) {
  if (!ssl) return send(fd, p, n, MSG_NOSIGNAL);
  size_t done = 0;
  if (SSL_write_ex(ssl, p, n, &done) == 1) return static_cast<ssize_t>(done);
  errno = EIO;
  return -1;
}
ssize_t ReadSome(int fd, SSL* ssl, char* p, size_t n) {
  if (!ssl) return read(fd, p, n);
  size_t done = 0;
  if (SSL_read_ex(ssl, p, n, &done) == 1) return static_cast<ssize_t>(done);
  if (SSL_get_error(ssl, 0) == SSL_ERROR_ZERO_RETURN) return 0;
  errno = EIO;
  return -1;
}

bool SendAll(int fd, SSL* ssl, const std::string& data, std::string* err) {
  size_t off = 0;
  while (off < data.size()) {  // each turn sends something or returns
    ssize_t n = SendSome(fd, ssl, data.data() + off, data.size() - off);
    if (n > 0) {
      off += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      *err = std::string("sending the upgrade request: ") + std::strerror(errno);
      return false;
    }
  }
  return true;
}

// Reads the response head up to its blank line. The server sends nothing unasked after
// the 101, so bytes past the head are an error rather than frames to keep.
bool ReadHead(int fd, SSL* ssl, std::string* head, std::string* err) {
  char buf[4096];
  while (head->size() < kMaxResponseHead) {
    ssize_t n = ReadSome(fd, ssl, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      *err = n == 0 ? "server closed during the handshake"
                    : std::string("reading the 101 response: ") + std::strerror(errno);
      return false;
    }
    head->append(buf, static_cast<size_t>(n));
    size_t end = head->find("\r\n\r\n");
    if (end != std::string::npos) {
      if (end + 4 != head->size()) {
        *err = "bytes after the 101 response before any frame was sent";
        return false;
      }
      head->resize(end + 2);  // keep the last header's CRLF
      return true;
    }
  }
  *err = "response head longer than 16 KiB";
  return false;
}

// Sec-WebSocket-Extensions of the response: at most permessage-deflate with the
// parameters RFC 7692 allows a server to answer.
std::string ParseExtensions(std::string_view value, Session* s) {
  std::vector<std::string_view> exts = Split(value, ',');
  if (exts.size() != 1) return "expected one extension, got: " + std::string(value);
  std::vector<std::string_view> params = Split(exts[0], ';');
  if (params.empty() || Lower(params[0]) != "permessage-deflate") {
    return "unexpected extension: " + std::string(value);
  }
  s->deflate = true;
  for (size_t i = 1; i < params.size(); ++i) {
    std::string_view p = params[i];
    size_t eq = p.find('=');
    std::string name = Lower(Trim(p.substr(0, eq)));
    std::string_view val = eq == std::string_view::npos ? "" : Trim(p.substr(eq + 1));
    if (val.size() >= 2 && val.front() == '"' && val.back() == '"')
      val = val.substr(1, val.size() - 2);
    int bits = 0;
    if (!val.empty() && val.size() <= 2 && std::all_of(val.begin(), val.end(), ::isdigit)) {
      bits = std::stoi(std::string(val));
    }
    if (name == "server_no_context_takeover" && val.empty()) {
      continue;  // our inflater keeps its window either way
    } else if (name == "client_no_context_takeover" && val.empty()) {
      s->client_no_context_takeover = true;
    } else if (name == "server_max_window_bits" && bits >= 8 && bits <= 15) {
      continue;  // our inflater always has a 15-bit window
    } else if (name == "client_max_window_bits" && bits >= 8 && bits <= 15) {
      // zlib's raw deflate cannot use 8; 9 produces streams an 8-bit inflater cannot
      // read, so 8 is refused rather than silently broken.
      if (bits == 8) return "client_max_window_bits=8 is not supported by zlib";
      s->client_window_bits = bits;
    } else {
      return "bad permessage-deflate parameter: " + std::string(p);
    }
  }
  return "";
}

std::string CheckResponse(const std::string& head, const std::string& key, bool offer_deflate,
                          Session* s) {
  size_t eol = head.find("\r\n");
  std::string_view status(head.data(), eol);
  if (status.rfind("HTTP/1.1 101", 0) != 0) return "not upgraded: " + std::string(status);
  bool upgrade = false, connection = false, accept = false;
  std::string_view rest(head);
  rest.remove_prefix(eol + 2);
  while (!rest.empty()) {
    size_t end = rest.find("\r\n");
    std::string_view line = rest.substr(0, end);
    rest.remove_prefix(end + 2);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return "malformed header line: " + std::string(line);
    std::string name = Lower(Trim(line.substr(0, colon)));
    std::string_view value = Trim(line.substr(colon + 1));
    if (name == "upgrade") {
      upgrade = Lower(value) == "websocket";
    } else if (name == "connection") {
      for (std::string_view tok : Split(value, ',')) connection |= Lower(tok) == "upgrade";
    } else if (name == "sec-websocket-accept") {
      accept = value == AcceptFor(key);
      if (!accept) return "wrong Sec-WebSocket-Accept: " + std::string(value);
    } else if (name == "sec-websocket-extensions") {
      if (!offer_deflate) return "extension not offered: " + std::string(value);
      std::string err = ParseExtensions(value, s);
      if (!err.empty()) return err;
    }
  }
  if (!upgrade) return "101 without Upgrade: websocket";
  if (!connection) return "101 without Connection: Upgrade";
  if (!accept) return "101 without Sec-WebSocket-Accept";
  if (offer_deflate && !s->deflate) return "server declined permessage-deflate";
  return "";
}

}  // namespace

std::string AcceptFor(const std::string& key) {
  std::string in = key + kGuid;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (EVP_Digest(in.data(), in.size(), md, &md_len, EVP_sha1(), nullptr) != 1) return "";
  return Base64(md, md_len);
}

std::string Handshake(int fd, SSL* ssl, const std::string& host, const std::string& path,
                      bool offer_deflate, Session* out) {
  uint8_t nonce[16];
  if (getrandom(nonce, sizeof nonce, 0) != static_cast<ssize_t>(sizeof nonce)) {
    return "getrandom failed";
  }
  std::string key = Base64(nonce, sizeof nonce);
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: " + host +
                    "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
                    "\r\nSec-WebSocket-Version: 13\r\n";
  if (offer_deflate) {
    req += "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";
  }
  req += "\r\n";
  std::string err, head;
  if (!SendAll(fd, ssl, req, &err) || !ReadHead(fd, ssl, &head, &err)) return err;
  *out = Session{};
  return CheckResponse(head, key, offer_deflate, out);
}

size_t HeaderSize(uint64_t len) {
  return (len < 126 ? 2 : len <= 0xFFFF ? 4 : 10) + 4;
}

void WriteHeader(uint8_t* dst, uint8_t opcode, bool rsv1, uint64_t len, uint32_t mask) {
  *dst++ = static_cast<uint8_t>(0x80 | (rsv1 ? 0x40 : 0) | opcode);
  if (len < 126) {
    *dst++ = static_cast<uint8_t>(0x80 | len);
  } else if (len <= 0xFFFF) {
    *dst++ = 0x80 | 126;
    *dst++ = static_cast<uint8_t>(len >> 8);
    *dst++ = static_cast<uint8_t>(len);
  } else {
    *dst++ = 0x80 | 127;
    for (int i = 7; i >= 0; --i) *dst++ = static_cast<uint8_t>(len >> (8 * i));
  }
  std::memcpy(dst, &mask, 4);  // mask bytes in memory order, as ApplyMask uses them
}

void ApplyMask(uint8_t* p, size_t n, uint32_t mask) {
  uint64_t m8 = (uint64_t{mask} << 32) | mask;  // same byte pattern, 8 at a time
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    w ^= m8;
    std::memcpy(p + i, &w, 8);
  }
  uint8_t mb[4];
  std::memcpy(mb, &mask, 4);
  for (; i < n; ++i) p[i] ^= mb[i & 3];
}

Compressor::Compressor(int window_bits, int level, bool reset_each) : reset_each_(reset_each) {
  ok_ = deflateInit2(&zs_, level, Z_DEFLATED, -window_bits, 8, Z_DEFAULT_STRATEGY) == Z_OK;
}

Compressor::~Compressor() {
  if (ok_) deflateEnd(&zs_);
}

bool Compressor::Compress(const uint8_t* in, size_t n, std::vector<uint8_t>& out) {
  const size_t start = out.size();
  // deflateBound covers one deflate() call; a sync flush adds at most a few bytes.
  out.resize(start + deflateBound(&zs_, n) + 16);
  zs_.next_in = const_cast<Bytef*>(in);
  zs_.avail_in = static_cast<uInt>(n);
  zs_.next_out = out.data() + start;
  zs_.avail_out = static_cast<uInt>(out.size() - start);
  int rc = deflate(&zs_, Z_SYNC_FLUSH);
  size_t len = out.size() - start - zs_.avail_out;
  if (rc != Z_OK || zs_.avail_in != 0 || zs_.avail_out == 0 || len < 4 ||
      std::memcmp(out.data() + start + len - 4, "\x00\x00\xff\xff", 4) != 0) {
    out.resize(start);
    return false;
  }
  out.resize(start + len - 4);
  return !reset_each_ || deflateReset(&zs_) == Z_OK;
}

Decompressor::Decompressor() {
  ok_ = inflateInit2(&zs_, -15) == Z_OK;
}

Decompressor::~Decompressor() {
  if (ok_) inflateEnd(&zs_);
}

std::string Decompressor::Step(const uint8_t** out, size_t* out_n) {
  zs_.next_out = buf_.data();
  zs_.avail_out = static_cast<uInt>(buf_.size());
  int rc = inflate(&zs_, Z_SYNC_FLUSH);
  *out = buf_.data();
  *out_n = buf_.size() - zs_.avail_out;
  if (rc == Z_STREAM_END) {
    // A final block ends the stream; the next message starts a fresh one.
    if (zs_.avail_in != 0) return "bytes after a final deflate block";
    return inflateReset(&zs_) == Z_OK ? "" : "inflateReset failed";
  }
  if (rc != Z_OK && rc != Z_BUF_ERROR) {
    return std::string("inflate: ") + (zs_.msg != nullptr ? zs_.msg : "error");
  }
  return "";
}

std::string Reader::Feed(const uint8_t* p, size_t n, Sink& sink) {
  while (n > 0) {  // every turn consumes at least one byte
    if (!in_payload_) {
      // Header: 2 bytes, then the extended length and mask key they announce.
      size_t need = HeaderNeed();
      size_t take = std::min(n, need - hdr_len_);
      std::memcpy(hdr_ + hdr_len_, p, take);
      hdr_len_ += take;
      p += take;
      n -= take;
      if (hdr_len_ < HeaderNeed()) continue;  // incomplete, or the first 2 bytes want more
      std::string err = ParseHeader(sink);
      if (!err.empty()) return err;
      if (left_ == 0) {
        // An empty payload: no bytes will come through below, but a compressed one
        // still ends with the implied 00 00 FF FF.
        if (compressed_ && !closing_) {
          err = inflater_->Feed(nullptr, 0, true,
                                [&sink](const uint8_t* b, size_t k) { return sink.Bytes(b, k); });
        }
        if (err.empty()) err = EndFrame(sink);
        if (!err.empty()) return err;
      }
      continue;
    }
    size_t take = static_cast<size_t>(std::min<uint64_t>(n, left_));
    left_ -= take;
    if (closing_) {
      close_payload_.append(reinterpret_cast<const char*>(p), take);
    } else if (compressed_) {
      std::string err = inflater_->Feed(
          p, take, left_ == 0, [&sink](const uint8_t* b, size_t k) { return sink.Bytes(b, k); });
      if (!err.empty()) return err;
    } else if (!sink.Bytes(p, take)) {
      return "rejected";
    }
    p += take;
    n -= take;
    if (left_ == 0) {
      std::string err = EndFrame(sink);
      if (!err.empty()) return err;
    }
  }
  return "";
}

size_t Reader::HeaderNeed() const {
  if (hdr_len_ < 2) return 2;
  uint8_t len7 = hdr_[1] & 0x7F;
  return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((hdr_[1] & 0x80) ? 4 : 0);
}

std::string Reader::ParseHeader(Sink& sink) {
  const uint8_t b0 = hdr_[0], b1 = hdr_[1];
  const uint8_t opcode = b0 & 0x0F;
  uint64_t len = b1 & 0x7F;
  if (len == 126) {
    len = (uint64_t{hdr_[2]} << 8) | hdr_[3];
  } else if (len == 127) {  // not after the 16-bit form: that may decode to 127 too
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | hdr_[2 + i];
  }
  hdr_len_ = 0;
  in_payload_ = true;
  left_ = len;
  char what[96];
  if (b1 & 0x80) return "masked frame from the server";
  if (opcode == kClose) {
    if (len > 125) return "close frame longer than 125 bytes";
    closing_ = true;  // report its code once the payload is in
    compressed_ = false;
    return "";
  }
  if (!(b0 & 0x80)) return "fragmented echo (FIN clear); the server sends one frame per message";
  if (b0 & 0x30) return "RSV2/RSV3 set";
  compressed_ = b0 & 0x40;
  if (compressed_ && inflater_ == nullptr) return "RSV1 set without permessage-deflate";
  if (opcode != opcode_) {
    std::snprintf(what, sizeof what, "opcode %u, expected %u", opcode, opcode_);
    return what;
  }
  if (!compressed_ && len != size_) {
    std::snprintf(what, sizeof what, "frame of %llu bytes, expected %llu",
                  static_cast<unsigned long long>(len), static_cast<unsigned long long>(size_));
    return what;
  }
  return sink.Begin() ? "" : "rejected";
}

std::string Reader::EndFrame(Sink& sink) {
  in_payload_ = false;
  if (closing_) {
    unsigned code = close_payload_.size() >= 2
                        ? (static_cast<unsigned>(static_cast<uint8_t>(close_payload_[0])) << 8) |
                              static_cast<uint8_t>(close_payload_[1])
                        : 0;
    return "server sent close " + std::to_string(code) +
           (close_payload_.size() > 2 ? " (" + close_payload_.substr(2) + ")" : "");
  }
  return sink.End() ? "" : "rejected";
}

}  // namespace gev::load::ws
