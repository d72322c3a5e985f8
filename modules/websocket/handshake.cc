#include "handshake.h"

#include <openssl/evp.h>

#include <array>
#include <optional>

namespace gev::ws {

namespace {

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// RFC 7230 tchar.
bool is_token_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_token_char(c)) return false;
  return true;
}

// Calls fn(item) for each trimmed, non-empty element of a comma-separated list.
template <class Fn>
void for_each_item(std::string_view list, Fn fn) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = trim(list.substr(0, comma));
    if (!item.empty()) fn(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

bool has_token(std::string_view list, std::string_view token) {
  bool found = false;
  for_each_item(list, [&](std::string_view item) { found = found || iequals(item, token); });
  return found;
}

// A Sec-WebSocket-Key must be the base64 of 16 bytes: 22 characters and "==", the last
// character carrying only 2 bits (A, Q, g or w).
bool valid_key(std::string_view key) {
  if (key.size() != 24 || key[22] != '=' || key[23] != '=') return false;
  for (size_t i = 0; i < 22; ++i) {
    char c = key[i];
    bool b64 = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '+' || c == '/';
    if (!b64) return false;
  }
  return std::string_view("AQgw").find(key[21]) != std::string_view::npos;
}

std::optional<int> window_bits(std::string_view v) {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  if (v.empty() || v.size() > 2) return std::nullopt;
  int n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  if (n < 8 || n > 15 || (v.size() == 2 && v[0] == '0')) return std::nullopt;
  return n;
}

// One permessage-deflate offer: "permessage-deflate; p1; p2=v". Returns the response
// value, or nullopt if the offer cannot be accepted as made.
std::optional<std::string> accept_offer(std::string_view offer, const DeflateConfig& config,
                                        Deflate* out) {
  size_t semi = offer.find(';');
  if (!iequals(trim(offer.substr(0, semi)), "permessage-deflate")) return std::nullopt;
  bool server_nct = false, client_nct = false, client_bits_offered = false;
  std::optional<int> server_bits, client_bits;
  bool seen[4] = {false, false, false, false};
  while (semi != std::string_view::npos) {
    offer.remove_prefix(semi + 1);
    semi = offer.find(';');
    std::string_view param = trim(offer.substr(0, semi));
    size_t eq = param.find('=');
    std::string_view name = trim(param.substr(0, eq));
    std::optional<std::string_view> value;
    if (eq != std::string_view::npos) value = trim(param.substr(eq + 1));
    int which = iequals(name, "server_no_context_takeover")   ? 0
                : iequals(name, "client_no_context_takeover") ? 1
                : iequals(name, "server_max_window_bits")     ? 2
                : iequals(name, "client_max_window_bits")     ? 3
                                                              : -1;
    if (which < 0 || seen[which]) return std::nullopt;  // unknown or repeated parameter
    seen[which] = true;
    switch (which) {
      case 0:
        if (value) return std::nullopt;
        server_nct = true;
        break;
      case 1:
        if (value) return std::nullopt;
        client_nct = true;
        break;
      case 2:
        if (!value || !(server_bits = window_bits(*value))) return std::nullopt;
        if (*server_bits == 8) return std::nullopt;  // zlib's raw deflate needs 9+
        break;
      case 3:
        client_bits_offered = true;
        if (value && !(client_bits = window_bits(*value))) return std::nullopt;
        break;
    }
  }
  Deflate d;
  d.on = true;
  d.server_no_context_takeover = server_nct || config.server_no_context_takeover;
  d.client_no_context_takeover = client_nct || config.client_no_context_takeover;
  d.server_window_bits = config.server_max_window_bits;
  if (server_bits && *server_bits < d.server_window_bits) d.server_window_bits = *server_bits;
  std::string r = "permessage-deflate";
  if (d.server_no_context_takeover) r += "; server_no_context_takeover";
  if (d.client_no_context_takeover) r += "; client_no_context_takeover";
  if (server_bits || d.server_window_bits < 15)
    r += "; server_max_window_bits=" + std::to_string(d.server_window_bits);
  // We inflate with a 15-bit window, so the client's own limit is only a request of ours.
  if (client_bits_offered && config.client_max_window_bits < 15) {
    int bits = config.client_max_window_bits;
    if (client_bits && *client_bits < bits) bits = *client_bits;
    r += "; client_max_window_bits=" + std::to_string(bits);
  }
  *out = d;
  return r;
}

const char* reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 426:
      return "Upgrade Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return status < 400 ? "OK" : status < 500 ? "Client Error" : "Server Error";
  }
}

// True if `head` (complete or not) has more than `max_headers` header lines: each CRLF
// ends a line, the first ends the request line. Stops counting past the limit.
bool too_many_headers(std::string_view head, size_t max_headers) {
  size_t p = head.find("\r\n");  // the request line's end
  size_t headers = 0;
  while (p != std::string_view::npos && (p = head.find("\r\n", p + 2)) != std::string_view::npos)
    if (++headers > max_headers) return true;
  return false;
}

constexpr const char* kTooManyHeaders = "too many header lines";

Handshake reject(int status, const char* why, size_t head_size) {
  Handshake h;
  h.kind = Handshake::Kind::kReject;
  h.status = status;
  h.error = why;
  h.head_size = head_size;
  return h;
}

}  // namespace

std::string accept_key(std::string_view key) {
  std::string in(key);
  in += kGuid;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(in.data(), in.size(), digest, &len, EVP_sha1(), nullptr);
  unsigned char b64[64];
  int n = EVP_EncodeBlock(b64, digest, static_cast<int>(len));
  return std::string(reinterpret_cast<char*>(b64), static_cast<size_t>(n));
}

std::string negotiate_deflate(std::string_view offers, const DeflateConfig& config, Deflate* out) {
  std::string accepted;
  for_each_item(offers, [&](std::string_view offer) {
    if (!accepted.empty()) return;
    if (auto r = accept_offer(offer, config, out)) accepted = *r;
  });
  return accepted;
}

std::string http_response(int status, std::string_view body, std::string_view content_type) {
  std::string r = "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) + "\r\n";
  if (status == 426) r += "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n";
  if (status == 405) r += "Allow: GET\r\n";
  // A handler's content type goes into the head: one without CR or LF, or the default.
  bool usable = !content_type.empty() && content_type.size() < 256 &&
                content_type.find_first_of("\r\n") == std::string_view::npos;
  r += "Content-Type: ";
  r += usable ? content_type : std::string_view("text/plain; charset=utf-8");
  r += "\r\nContent-Length: " + std::to_string(body.size());
  r += "\r\nConnection: close\r\n\r\n";
  r += body;
  return r;
}

Handshake parse_handshake(std::string_view in, const HandshakeConfig& config) {
  size_t end = in.substr(0, config.max_head).find("\r\n\r\n");
  if (end == std::string_view::npos) {
    // Refused as soon as the line over the limit is complete, not when the head ends; and
    // counted within max_head first, so the answer is the same however the bytes arrived
    // (whole, the size check alone would have answered "too large").
    if (too_many_headers(in.substr(0, config.max_head), config.max_headers))
      return reject(431, kTooManyHeaders, in.size());
    if (in.size() >= config.max_head) return reject(431, "request head too large", in.size());
    return {};
  }
  size_t head_size = end + 4;
  std::string_view head = in.substr(0, end + 2);  // every line ends in CRLF
  // Before any other check, so the answer does not depend on how the head arrived.
  if (too_many_headers(head, config.max_headers)) return reject(431, kTooManyHeaders, head_size);

  // Request line: METHOD SP target SP HTTP/1.1
  size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  size_t sp1 = line.find(' ');
  size_t sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1 || !is_token(line.substr(0, sp1)))
    return reject(400, "malformed request line", head_size);
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (target.empty() || target.find(' ') != std::string_view::npos)
    return reject(400, "malformed request target", head_size);
  if (version != "HTTP/1.1") return reject(400, "not HTTP/1.1", head_size);

  std::string_view host, upgrade, connection, key, ws_version;
  std::string protocols, extensions;  // may be split over several header lines
  bool has_host = false, has_version = false, dup_key = false;
  size_t pos = eol + 2;
  while (pos < head.size()) {
    size_t next = head.find("\r\n", pos);
    std::string_view h = head.substr(pos, next - pos);
    pos = next + 2;
    size_t colon = h.find(':');
    if (colon == std::string_view::npos || !is_token(h.substr(0, colon)))
      return reject(400, "malformed header line", head_size);  // also obs-fold lines
    std::string_view name = h.substr(0, colon);
    std::string_view value = trim(h.substr(colon + 1));
    if (iequals(name, "host")) {
      host = value;
      has_host = true;
    } else if (iequals(name, "upgrade")) {
      upgrade = value;
    } else if (iequals(name, "connection")) {
      connection = value;
    } else if (iequals(name, "sec-websocket-key")) {
      dup_key = !key.empty();
      key = value;
    } else if (iequals(name, "sec-websocket-version")) {
      ws_version = value;
      has_version = true;
    } else if (iequals(name, "sec-websocket-protocol")) {
      if (!protocols.empty()) protocols += ',';
      protocols += value;
    } else if (iequals(name, "sec-websocket-extensions")) {
      if (!extensions.empty()) extensions += ',';
      extensions += value;
    }
  }

  if (upgrade.empty()) {
    if (method != "GET") return reject(405, "method not allowed", head_size);
    Handshake h;
    h.kind = Handshake::Kind::kPlainGet;
    h.head_size = head_size;
    return h;
  }
  if (method != "GET") return reject(405, "upgrade with a method other than GET", head_size);
  if (!has_host || host.empty()) return reject(400, "no Host header", head_size);
  if (!has_token(upgrade, "websocket")) return reject(400, "Upgrade is not websocket", head_size);
  if (!has_token(connection, "upgrade"))
    return reject(400, "Connection does not contain upgrade", head_size);
  if (!has_version || ws_version != "13")
    return reject(426, "Sec-WebSocket-Version is not 13", head_size);
  if (dup_key || !valid_key(key)) return reject(400, "bad Sec-WebSocket-Key", head_size);

  Handshake h;
  h.kind = Handshake::Kind::kUpgrade;
  h.head_size = head_size;
  h.response =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: " +
      accept_key(key) + "\r\n";
  if (!protocols.empty()) {
    for (const std::string& p : config.subprotocols) {
      bool offered = false;
      for_each_item(protocols, [&](std::string_view item) { offered = offered || item == p; });
      if (offered) {
        h.response += "Sec-WebSocket-Protocol: " + p + "\r\n";
        break;
      }
    }
  }
  if (config.deflate.enabled && !extensions.empty()) {
    std::string ext = negotiate_deflate(extensions, config.deflate, &h.deflate);
    if (!ext.empty()) h.response += "Sec-WebSocket-Extensions: " + ext + "\r\n";
  }
  h.response += "\r\n";
  return h;
}

}  // namespace gev::ws
