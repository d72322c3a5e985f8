// The admin endpoint's HTTP: parsing and routing, no I/O.
#include "admin_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>

namespace gev::host::admin {

namespace {

std::string response(int status, const char* reason, std::string_view type, std::string_view body,
                     bool close, bool head = false, std::string_view extra = {}) {
  std::string r = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
  r += "Content-Type: ";
  r += type;
  r += "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  r += extra;
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

// The value of header `name` (lowercase), trimmed; nullopt if absent.
}  // namespace

std::optional<std::string_view> header(std::string_view head, std::string_view name) {
  size_t at = head.find("\r\n");
  while (at != std::string_view::npos && at + 2 < head.size()) {
    size_t start = at + 2;
    size_t end = head.find("\r\n", start);
    std::string_view line = head.substr(start, end == std::string_view::npos ? end : end - start);
    size_t colon = line.find(':');
    if (colon == name.size() && lowercase(line.substr(0, colon)) == name) {
      std::string_view v = line.substr(colon + 1);
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
      return v;
    }
    at = end;
  }
  return std::nullopt;
}

// Whether the comma-separated header value `v` lists `token` (case-insensitive).
bool lists(std::string_view v, std::string_view token) {
  std::string lower = lowercase(v);
  size_t start = 0;
  while (start <= lower.size()) {
    size_t end = lower.find(',', start);
    std::string_view t = std::string_view(lower).substr(start, end == std::string::npos
                                                                   ? std::string::npos
                                                                   : end - start);
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
    if (t == token) return true;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return false;
}

bool header_says_close(std::string_view head) {
  // Connection: close, or HTTP/1.0 without Connection: keep-alive.
  std::optional<std::string_view> conn = header(head, "connection");
  if (conn && lists(*conn, "close")) return true;
  std::string_view line = head.substr(0, head.find("\r\n"));
  return line.ends_with("HTTP/1.0") && !(conn && lists(*conn, "keep-alive"));
}

size_t count_headers(std::string_view head, std::string_view name) {
  size_t n = 0;
  for (size_t at = head.find("\r\n"); at != std::string_view::npos && at + 2 < head.size();) {
    size_t end = head.find("\r\n", at + 2);
    std::string_view line = head.substr(at + 2, end == std::string_view::npos ? end : end - at - 2);
    size_t colon = line.find(':');
    if (colon == name.size() && lowercase(line.substr(0, colon)) == name) ++n;
    at = end;
  }
  return n;
}
// Requests carry no body here: one announced (other than "Content-Length: 0") is refused
// rather than read as the next request.
bool has_body(std::string_view head) {
  if (header(head, "transfer-encoding")) return true;
  std::optional<std::string_view> len = header(head, "content-length");
  return len && *len != "0";
}

// Compares in time that depends on the lengths only.
bool same_secret(std::string_view a, std::string_view b) {
  size_t n = std::max(a.size(), b.size());
  unsigned diff = a.size() != b.size();
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

// "host[:port]" as a client that reached us by address writes it: an IP address or
// localhost (any port: a container's mapping may differ). A name (DNS rebinding:
// evil.example resolving to 127.0.0.1) is not.
bool own_authority(std::string_view a) {
  std::string_view host = a, port_text;
  if (!a.empty() && a.front() == '[') {
    size_t close = a.find(']');
    if (close == std::string_view::npos) return false;
    host = a.substr(1, close - 1);
    std::string_view rest = a.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port_text = rest.substr(1);
    }
  } else if (size_t colon = a.rfind(':'); colon != std::string_view::npos) {
    host = a.substr(0, colon);
    port_text = a.substr(colon + 1);
  }
  if (port_text.size() > 5 || port_text.find_first_not_of("0123456789") != std::string_view::npos)
    return false;
  std::string h(host);
  unsigned char buf[sizeof(in6_addr)];
  return lowercase(h) == "localhost" || inet_pton(AF_INET, h.c_str(), buf) == 1 ||
         inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

size_t head_size(std::string_view in) {
  size_t end = in.find("\r\n\r\n");
  if (end != std::string_view::npos && end + 4 <= kMaxHead) return end + 4;
  return in.size() >= kMaxHead ? kHeadTooLarge : 0;
}

std::string render(const Answer& a, std::string_view content_type) {
  return response(a.status, a.reason, content_type, a.body, a.close, a.head, a.extra);
}

Answer route(std::string_view head, const View& v) {
  Answer out;
  std::string_view line = head.substr(0, head.find("\r\n"));
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  std::string_view method = sp2 == std::string_view::npos ? "" : line.substr(0, sp1);
  out.head = method == "HEAD";
  out.close = v.close || v.reserve || header_says_close(head);
  auto answer = [&](int status, const char* reason, std::string body, bool must_close = false,
                    std::string extra = {}) {
    out.status = status;
    out.reason = reason;
    out.body = std::move(body);
    out.extra = std::move(extra);
    out.close = out.close || must_close;
    return out;
  };
  if (sp2 == std::string_view::npos) return answer(400, "Bad Request", "bad request\n", true);
  // No request here has a body: one announced is refused rather than read as the next
  // request.
  if (has_body(head)) return answer(400, "Bad Request", "admin requests take no body\n", true);
  if (count_headers(head, "host") > 1)
    return answer(400, "Bad Request", "more than one Host header\n", true);
  if (!header(head, "host") && line.ends_with("HTTP/1.1"))
    return answer(400, "Bad Request", "HTTP/1.1 needs a Host header\n", true);
  if (!v.unix_socket) {  // no browser reaches a unix socket
    // A state-changing request by a name (DNS rebinding) is refused; reads are not (a
    // Prometheus scraping by host name), but no web page of another origin gets any.
    bool changes_state = method != "GET" && method != "HEAD";
    std::optional<std::string_view> host = header(head, "host");
    std::string why;
    if (changes_state && host && !own_authority(*host))
      why = "Host '" + std::string(*host) + "' is not an address of this host\n";
    if (std::optional<std::string_view> origin = header(head, "origin"))
      if (!(origin->starts_with("http://") && own_authority(origin->substr(7))))
        why = "Origin '" + std::string(*origin) + "' is foreign\n";
    if (!why.empty()) {
      out.count = Answer::kForbidden;
      out.log = "refused a request: " + why.substr(0, why.size() - 1);
      return answer(403, "Forbidden", why, true);
    }
  }
  std::string_view path = line.substr(sp1 + 1, sp2 - sp1 - 1);
  path = path.substr(0, path.find('?'));
  if (v.reserve && path != "/healthz" && path != "/readyz") {
    out.count = Answer::kRefused;
    return answer(503, "Service Unavailable",
                  "every admin slot has a request in progress; only /healthz and /readyz are "
                  "answered now\n");
  }
  if (path == "/reload" && v.can_reload) {
    std::optional<std::string_view> auth = header(head, "authorization");
    if (method != "POST") return answer(405, "Method Not Allowed", "POST /reload\n", false,
                                        "Allow: POST\r\n");
    if (!v.unix_socket && v.token.empty()) {
      out.count = Answer::kForbidden;
      return answer(403, "Forbidden",
                    "POST /reload over TCP needs a token (--admin-token-file); or use --admin "
                    "unix:PATH, or SIGHUP\n");
    }
    if (!v.unix_socket &&
        !(auth && auth->starts_with("Bearer ") && same_secret(auth->substr(7), v.token))) {
      out.count = Answer::kForbidden;
      out.log = "POST /reload without the right token";
      return answer(401, "Unauthorized", "POST /reload needs Authorization: Bearer TOKEN\n", false,
                    "WWW-Authenticate: Bearer\r\n");
    }
    out.kind = Answer::kReload;
    return out;
  }
  if (method != "GET" && method != "HEAD")
    return answer(405, "Method Not Allowed", "GET only\n", false, "Allow: GET, HEAD\r\n");
  int h = std::clamp(v.health, 0, 3);
  if (path == "/metrics") {
    out.kind = Answer::kMetrics;
    return out;
  }
  if (path == "/healthz") {
    static constexpr const char* kWhy[] = {"ok (starting)\n", "ok\n", "stopping\n",
                                           "draining: handed over to a new gev-host\n"};
    bool ok = h <= 1;
    return answer(ok ? 200 : 503, ok ? "OK" : "Service Unavailable", kWhy[h]);
  }
  if (path == "/readyz") {
    static constexpr const char* kWhy[] = {"not ready: starting\n", "ready\n",
                                           "not ready: stopping\n",
                                           "not ready: draining (handed over to a new gev-host)\n"};
    bool ok = h == 1;
    return answer(ok ? 200 : 503, ok ? "OK" : "Service Unavailable", kWhy[h]);
  }
  return answer(404, "Not Found", "try /metrics, /healthz, /readyz or POST /reload\n");
}

}  // namespace gev::host::admin
