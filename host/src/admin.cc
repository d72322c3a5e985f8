// AdminEndpoint implementation. Requests are small: the head must fit in 8 KiB, and
// bodies are not accepted.
#include "admin.h"

#include <gev/connection.h>

#include <string_view>

namespace gev::host {

namespace {
constexpr size_t kMaxHead = 8192;

std::string response(int status, const char* reason, std::string_view type, std::string_view body,
                     bool close, bool head = false) {
  std::string r = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
  r += "Content-Type: ";
  r += type;
  r += "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  if (close) r += "Connection: close\r\n";
  r += "\r\n";
  if (!head) r += body;  // HEAD: the same headers, no body
  return r;
}

std::string lowercase(std::string_view s) {
  std::string lower(s);
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return lower;
}

bool header_says_close(std::string_view head) {
  // Connection: close (case-insensitive name and value), or HTTP/1.0 without keep-alive.
  std::string lower = lowercase(head);
  if (lower.find("\r\nconnection: close") != std::string::npos) return true;
  size_t eol = lower.find("\r\n");
  return lower.substr(0, eol).ends_with("http/1.0") &&
         lower.find("\r\nconnection: keep-alive") == std::string::npos;
}
// Requests carry no body here: one announced (other than "Content-Length: 0") is refused
// rather than read as the next request.
bool has_body(std::string_view head) {
  std::string lower = lowercase(head);
  if (lower.find("\r\ntransfer-encoding:") != std::string::npos) return true;
  size_t at = lower.find("\r\ncontent-length:");
  if (at == std::string::npos) return false;
  size_t v = lower.find_first_not_of(" \t", at + 17);
  return v == std::string::npos || lower[v] != '0' ||
         (v + 1 < lower.size() && lower[v + 1] >= '0' && lower[v + 1] <= '9');
}
}  // namespace

DecodeResult AdminEndpoint::decode(Connection&, std::span<const uint8_t> in) {
  std::string_view text(reinterpret_cast<const char*>(in.data()), in.size());
  size_t end = text.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (in.size() > kMaxHead) return DecodeResult::fail("admin: request head too large");
    return DecodeResult::need_more();
  }
  return DecodeResult::frame_of(end + 4, Frame{in.subspan(0, end + 2), 0, {}});
}

void AdminEndpoint::encode(Connection&, const Frame& msg, WriteBatch& out) {
  out.append(msg.data);
}

std::span<const uint8_t> AdminEndpoint::on_message(Connection& c, const Frame& request) {
  std::string_view head(reinterpret_cast<const char*>(request.data.data()), request.data.size());
  std::string_view line = head.substr(0, head.find("\r\n"));
  bool close = header_says_close(head);
  std::string reply;
  size_t sp1 = line.find(' ');
  size_t sp2 = line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos) {
    reply = response(400, "Bad Request", "text/plain", "bad request\n", true);
    close = true;
  } else {
    std::string_view method = line.substr(0, sp1);
    std::string_view path = line.substr(sp1 + 1, sp2 - sp1 - 1);
    path = path.substr(0, path.find('?'));
    if (path == "/reload" && reload_) {
      if (method != "POST") {
        reply = response(405, "Method Not Allowed", "text/plain", "POST /reload\n", close);
      } else if (has_body(head)) {
        reply = response(400, "Bad Request", "text/plain", "/reload takes no body\n", true);
        close = true;
      } else {
        start_reload(c, close);
        return {};
      }
    } else if (method != "GET" && method != "HEAD") {
      reply = response(405, "Method Not Allowed", "text/plain", "GET only\n", close);
    } else if (path == "/metrics") {
      reply = response(200, "OK", "text/plain; version=0.0.4; charset=utf-8", metrics_(), close,
                       method == "HEAD");
    } else if (path == "/healthz") {
      reply = response(200, "OK", "text/plain", "ok\n", close, method == "HEAD");
    } else {
      reply = response(404, "Not Found", "text/plain", "try /metrics, /healthz or POST /reload\n",
                       close, method == "HEAD");
    }
  }
  c.send(reply);  // copied into the output: the string dies with this call
  if (close) c.close();
  return {};
}

void AdminEndpoint::start_reload(Connection& c, bool close) {
  // The answer comes from the reload thread; the connection reads nothing more until then.
  c.pause_reading();
  reload_([conn = c.shared_from_this(), close](bool ok, const std::string& message) {
    conn->send(response(ok ? 200 : 500, ok ? "OK" : "Internal Server Error", "text/plain",
                        message + "\n", close));
    if (close)
      conn->close();
    else
      conn->resume_reading();
  });
}

}  // namespace gev::host
