// check_ws_output: see ws_output_check.h. Written from RFC 6455 5.2/5.5/7.4 and RFC 7692,
// not from the module's code.
#include "ws_output_check.h"

#include <zlib.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "utf8_reference.h"

namespace gev::fuzz {

namespace {

// A client's inflater for permessage-deflate messages (RFC 7692 7.2.2).
class Inflate {
 public:
  Inflate() { reset(); }
  ~Inflate() { inflateEnd(&z_); }
  void reset() {
    if (live_) inflateEnd(&z_);
    std::memset(&z_, 0, sizeof z_);
    live_ = inflateInit2(&z_, -15) == Z_OK;
  }
  // Appends the tail the sender removed; false on a corrupt stream.
  bool message(std::string_view in, std::string& out) {
    std::string data(in);
    data.append("\x00\x00\xff\xff", 4);
    z_.next_in = reinterpret_cast<Bytef*>(data.data());
    z_.avail_in = static_cast<uInt>(data.size());
    char buf[16384];
    while (live_) {
      z_.next_out = reinterpret_cast<Bytef*>(buf);
      z_.avail_out = sizeof buf;
      int r = inflate(&z_, Z_SYNC_FLUSH);
      out.append(buf, sizeof buf - z_.avail_out);
      if (r == Z_BUF_ERROR || (r == Z_OK && z_.avail_in == 0 && z_.avail_out != 0)) return true;
      if (r != Z_OK) return false;
      if (out.size() > (64u << 20)) return true;  // a bomb: enough checked
    }
    return false;
  }

 private:
  z_stream z_;
  bool live_ = false;
};

bool has(std::string_view head, std::string_view what) {
  return head.find(what) != std::string_view::npos;
}

bool utf8(std::string_view s) {
  return utf8_reference(reinterpret_cast<const uint8_t*>(s.data()), s.size()).valid;
}

// Close codes a server may put on the wire (RFC 6455 7.4.1/7.4.2: 1004-1006 and 1015
// are reserved, 1016-2999 unassigned).
bool sendable_close_code(uint32_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

const char* check_frames(std::string_view rest, bool deflate, bool no_takeover) {
  Inflate inflater;
  bool closed = false;
  size_t i = 0;
  while (i < rest.size()) {
    if (closed) return "a frame after the server's close";
    if (rest.size() - i < 2) return "a truncated frame header";
    auto b0 = static_cast<uint8_t>(rest[i]);
    auto b1 = static_cast<uint8_t>(rest[i + 1]);
    i += 2;
    bool fin = b0 & 0x80, rsv1 = b0 & 0x40;
    uint8_t opcode = b0 & 0x0F;
    if (!fin) return "a server frame without FIN (the module sends one frame per message)";
    if (b0 & 0x30) return "RSV2 or RSV3 set";
    if (b1 & 0x80) return "a masked server frame";
    if (opcode != 1 && opcode != 2 && opcode != 8 && opcode != 9 && opcode != 10)
      return "an opcode a server should not send";
    uint64_t len = b1 & 0x7F;
    if (len >= 126) {
      size_t n = len == 126 ? 2 : 8;
      if (rest.size() - i < n) return "a truncated extended length";
      len = 0;
      for (size_t k = 0; k < n; ++k) len = (len << 8) | static_cast<uint8_t>(rest[i + k]);
      i += n;
      if (n == 2 && len < 126) return "a 16-bit length that fits in 7 bits";
      if (n == 8 && len < 65536) return "a 64-bit length that fits in 16 bits";
    }
    if (len > rest.size() - i) return "a truncated payload";
    std::string_view payload = rest.substr(i, static_cast<size_t>(len));
    i += static_cast<size_t>(len);
    if (opcode >= 8) {
      if (len > 125) return "a control frame over 125 bytes";
      if (rsv1) return "RSV1 on a control frame";
    }
    if (rsv1 && !deflate) return "RSV1 without permessage-deflate agreed";
    std::string inflated;
    if (rsv1) {
      if (no_takeover) inflater.reset();
      if (!inflater.message(payload, inflated)) return "a compressed message that will not inflate";
      payload = inflated;
    }
    if (opcode == 1 && !utf8(payload)) return "a text message that is not UTF-8";
    if (opcode == 8) {
      closed = true;
      if (len == 1) return "a close frame of one byte";
      if (len >= 2) {
        uint32_t code = (static_cast<uint8_t>(payload[0]) << 8) | static_cast<uint8_t>(payload[1]);
        if (!sendable_close_code(code)) return "a close code a server must not send";
        if (!utf8(payload.substr(2))) return "a close reason that is not UTF-8";
      }
    }
  }
  return nullptr;
}

}  // namespace

const char* check_ws_output(const std::vector<uint8_t>& out) {
  if (out.empty()) return nullptr;
  std::string_view all(reinterpret_cast<const char*>(out.data()), out.size());
  size_t end = all.find("\r\n\r\n");
  if (end == std::string_view::npos) return "output that does not start with an HTTP head";
  std::string_view head = all.substr(0, end + 4);
  std::string_view rest = all.substr(end + 4);
  if (head.substr(0, 9) != "HTTP/1.1 " || head.size() < 12) return "a bad status line";
  int status = std::atoi(std::string(head.substr(9, 3)).c_str());
  if (status != 101) {
    size_t at = head.find("Content-Length: ");
    if (at == std::string_view::npos) return "a refusal without Content-Length";
    size_t n = std::strtoul(std::string(head.substr(at + 16, 20)).c_str(), nullptr, 10);
    if (n != rest.size()) return "bytes after a refusal's body, or a short body";
    return nullptr;
  }
  if (!has(head, "Sec-WebSocket-Accept: ")) return "a 101 without Sec-WebSocket-Accept";
  bool deflate = has(head, "permessage-deflate");
  return check_frames(rest, deflate, deflate && has(head, "server_no_context_takeover"));
}

}  // namespace gev::fuzz
