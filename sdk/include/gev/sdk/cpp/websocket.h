// gev/sdk/cpp/websocket.h: reading the `websocket` protocol module's requests in a C++
// handler (see gev/sdk/websocket.h for the frame conventions). Header-only.
//
//   if (msg.type == GEV_WS_OPEN) {
//     gev::sdk::ws::Request req(msg);
//     if (req.path() != "/ws") return gev::sdk::ws::respond(reply, 404, "no such room\n");
//     return GEV_OK;  // accepted: 101 Switching Protocols
//   }
#ifndef GEV_SDK_CPP_WEBSOCKET_H
#define GEV_SDK_CPP_WEBSOCKET_H

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "../websocket.h"
#include "module.h"

namespace gev::sdk::ws {

// The request head of a GEV_WS_OPEN or GEV_WS_HTTP frame (views into msg.meta: valid
// during on_message only).
class Request {
 public:
  explicit Request(const gev_frame& msg) : head_(view(msg.meta)) {
    std::string_view line = head_.substr(0, head_.find("\r\n"));
    size_t sp1 = line.find(' ');
    size_t sp2 = line.rfind(' ');
    if (sp1 != std::string_view::npos && sp2 > sp1) {
      method_ = line.substr(0, sp1);
      target_ = line.substr(sp1 + 1, sp2 - sp1 - 1);
    }
  }
  std::string_view method() const { return method_; }
  std::string_view target() const { return target_; }  // path?query
  std::string_view path() const { return target_.substr(0, target_.find('?')); }
  std::string_view query() const {
    size_t q = target_.find('?');
    return q == std::string_view::npos ? std::string_view{} : target_.substr(q + 1);
  }
  // The first header with this name (case-insensitive), value trimmed.
  std::optional<std::string_view> header(std::string_view name) const {
    size_t pos = head_.find("\r\n");
    while (pos != std::string_view::npos && pos + 2 < head_.size()) {
      size_t start = pos + 2;
      size_t end = head_.find("\r\n", start);
      std::string_view line = head_.substr(start, end - start);
      size_t colon = line.find(':');
      if (colon != std::string_view::npos && iequals(line.substr(0, colon), name))
        return trim(line.substr(colon + 1));
      pos = end;
    }
    return std::nullopt;
  }
  std::string_view head() const { return head_; }

 private:
  static bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      char x = a[i], y = b[i];
      if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
      if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
      if (x != y) return false;
    }
    return true;
  }
  static std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  }
  std::string_view head_;
  std::string_view method_;
  std::string_view target_;
};

// Answers an OPEN (refusal, status 400-599) or HTTP request (any status 200-599).
// `body` and `content_type` must outlive on_message (string literals, module state).
inline gev_status respond(gev_frame& reply, uint32_t status, std::string_view body,
                          std::string_view content_type = {}) {
  reply.type = status;
  reply.data = bytes(body);
  reply.meta = bytes(content_type);
  return GEV_OK;
}

// The payload of a close frame: 2-byte big-endian code, then the UTF-8 reason
// (at most 123 bytes).
inline std::string close_payload(uint16_t code, std::string_view reason = {}) {
  std::string p;
  p += static_cast<char>(code >> 8);
  p += static_cast<char>(code & 0xff);
  p += reason.substr(0, 123);
  return p;
}

}  // namespace gev::sdk::ws

#endif  // GEV_SDK_CPP_WEBSOCKET_H
