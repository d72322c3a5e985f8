// AdminEndpoint implementation. Requests are small: the head must fit in 8 KiB, and
// bodies are not accepted.
#include "admin.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gev/connection.h>
#include <gev/log.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <string_view>

namespace gev::host {

namespace {
constexpr size_t kMaxHead = 8192;
constexpr uint32_t kHeadTooLarge = 1;  // frame type: the head did not fit

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

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

std::string text(int status, const char* reason, std::string_view body, bool close,
                 bool head = false, std::string_view extra = {}) {
  return response(status, reason, "text/plain", body, close, head, extra);
}

std::string lowercase(std::string_view s) {
  std::string lower(s);
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return lower;
}

// The value of header `name` (lowercase), trimmed; nullopt if absent.
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
}  // namespace

struct AdminEndpoint::Peer {
  uint64_t id = 0;
  std::weak_ptr<Connection> conn;
  std::atomic<bool> busy{false};      // a reload's answer is pending: never evicted
  std::atomic<uint64_t> round{0};     // responses sent: a timer armed before one is stale
  std::atomic<int64_t> idle_since{0};
  bool reserve = false;  // over the limit with every slot busy: health checks only
  // Loop thread only:
  TimerId deadline = 0;  // the pending request deadline
  uint32_t requests = 0;
};

namespace {
constexpr uint32_t kMaxRequestsPerConnection = 100;  // then Connection: close (as nginx)
}  // namespace

DecodeResult AdminEndpoint::decode(Connection&, std::span<const uint8_t> in) {
  std::string_view text(reinterpret_cast<const char*>(in.data()), in.size());
  size_t end = text.find("\r\n\r\n");
  if (end == std::string_view::npos || end + 4 > kMaxHead) {
    if (in.size() > kMaxHead) return DecodeResult::frame_of(in.size(), Frame{{}, kHeadTooLarge, {}});
    return DecodeResult::need_more();
  }
  return DecodeResult::frame_of(end + 4, Frame{in.subspan(0, end + 2), 0, {}});
}

void AdminEndpoint::encode(Connection&, const Frame& msg, WriteBatch& out) {
  out.append(msg.data);
}

void AdminEndpoint::on_connect(Connection& c) {
  auto peer = std::make_shared<Peer>();
  peer->id = c.id();
  peer->conn = c.shared_from_this();
  peer->idle_since = now_ns();
  std::shared_ptr<Connection> victim;
  bool full = false;
  {
    std::lock_guard lock(mu_);
    if (peers_.size() - reserved_ >= settings_.max_connections) {
      auto oldest = peers_.end();
      for (auto it = peers_.begin(); it != peers_.end(); ++it)
        if (!it->second->busy && !it->second->reserve &&
            (oldest == peers_.end() || it->second->idle_since < oldest->second->idle_since))
          oldest = it;
      if (oldest != peers_.end()) {
        victim = oldest->second->conn.lock();
        peers_.erase(oldest);
      } else if (reserved_ < kReservedSlots) {
        peer->reserve = true;  // every slot has a request in progress: health checks only
        ++reserved_;
      } else {
        full = true;
      }
    }
    if (!full) peers_.emplace(peer->id, peer);
  }
  if (victim) {
    evicted_++;
    GEV_DEBUG("admin: %zu connections open: closing the one idle longest for one from %s",
              settings_.max_connections, c.peer_address().to_string().c_str());
    // At once, output and all (it is idle): a peer that reads nothing must not keep it.
    victim->loop().run_in_loop([victim] { victim->close_now(CloseReason::kLocal); });
  }
  if (full) {
    refused_++;
    GEV_DEBUG("admin: every one of %zu connections has a request in progress: 503",
              settings_.max_connections);
    c.send(text(503, "Service Unavailable", "too many admin requests in progress\n", true));
    c.close();
    return;
  }
  c.context() = peer;
  arm_timeout(c, peer);
}

void AdminEndpoint::on_close(Connection& c) {
  auto* peer = std::any_cast<std::shared_ptr<Peer>>(&c.context());
  if (!peer) return;
  if ((*peer)->deadline) c.loop().cancel((*peer)->deadline);
  std::lock_guard lock(mu_);
  auto it = peers_.find(c.id());
  if (it == peers_.end() || it->second != *peer) return;  // evicted: already gone
  if ((*peer)->reserve) --reserved_;
  peers_.erase(it);
}

void AdminEndpoint::arm_timeout(Connection& c, const std::shared_ptr<Peer>& peer) {
  if (settings_.request_timeout.count() <= 0) return;
  if (peer->deadline) c.loop().cancel(peer->deadline);  // one pending deadline per peer
  uint64_t round = peer->round.load();
  peer->deadline = c.loop().run_after(settings_.request_timeout, [this, peer, round] {
    std::shared_ptr<Connection> conn = peer->conn.lock();
    if (!conn || !conn->connected() || peer->busy || peer->round != round) return;
    if (conn->read_buffer_size() > 0) {  // a head begun and never finished
      timed_out_++;
      conn->send(text(408, "Request Timeout", "request head not complete in time\n", true));
    }
    conn->close();
  });
}

void AdminEndpoint::answered(Connection& c, const std::shared_ptr<Peer>& peer, bool close) {
  if (close) {
    c.close();
    return;
  }
  peer->round++;
  peer->idle_since = now_ns();
  arm_timeout(c, peer);
}

std::string AdminEndpoint::refuse_origin(std::string_view head, bool changes_state) const {
  if (settings_.unix_socket) return {};  // no browser reaches a unix socket
  // A state-changing request by a name (DNS rebinding) is refused; reads are not (a
  // Prometheus scraping by host name), but no web page of another origin gets anything.
  std::optional<std::string_view> host = header(head, "host");
  if (changes_state && host && !own_authority(*host))
    return "Host '" + std::string(*host) + "' is not an address of this host\n";
  if (std::optional<std::string_view> origin = header(head, "origin")) {
    bool own = origin->starts_with("http://") && own_authority(origin->substr(7));
    if (!own) return "Origin '" + std::string(*origin) + "' is foreign\n";
  }
  return {};
}

std::span<const uint8_t> AdminEndpoint::on_message(Connection& c, const Frame& request) {
  auto* slot = std::any_cast<std::shared_ptr<Peer>>(&c.context());
  if (!slot) return {};
  std::shared_ptr<Peer> peer = *slot;
  if (request.type == kHeadTooLarge) {
    c.send(text(431, "Request Header Fields Too Large", "request head over 8 KiB\n", true));
    answered(c, peer, true);
    return {};
  }
  std::string_view head(reinterpret_cast<const char*>(request.data.data()), request.data.size());
  std::string_view line = head.substr(0, head.find("\r\n"));
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  std::string_view method = sp2 == std::string_view::npos ? "" : line.substr(0, sp1);
  bool is_head = method == "HEAD";
  // One request on a reserved slot; at most kMaxRequestsPerConnection on any other.
  bool close = header_says_close(head) || peer->reserve ||
               ++peer->requests >= kMaxRequestsPerConnection;
  std::string reply;
  auto answer = [&](int status, const char* reason, std::string_view body, bool must_close = false,
                    std::string_view extra = {}) {
    close = close || must_close;
    reply = text(status, reason, body, close, is_head, extra);
  };
  if (sp2 == std::string_view::npos) {
    answer(400, "Bad Request", "bad request\n", true);
  } else if (has_body(head)) {
    // No request here has a body: one announced is refused rather than read as the
    // next request.
    answer(400, "Bad Request", "admin requests take no body\n", true);
  } else if (count_headers(head, "host") > 1) {
    answer(400, "Bad Request", "more than one Host header\n", true);
  } else if (!header(head, "host") && line.ends_with("HTTP/1.1")) {
    answer(400, "Bad Request", "HTTP/1.1 needs a Host header\n", true);
  } else if (std::string why = refuse_origin(head, method != "GET" && method != "HEAD");
             !why.empty()) {
    forbidden_++;
    GEV_INFO("admin: refused a request from %s: %.*s", c.peer_address().to_string().c_str(),
             static_cast<int>(why.size() - 1), why.data());
    answer(403, "Forbidden", why, true);
  } else {
    std::string_view path = line.substr(sp1 + 1, sp2 - sp1 - 1);
    path = path.substr(0, path.find('?'));
    Health h = health();
    if (peer->reserve && path != "/healthz" && path != "/readyz") {
      refused_++;
      answer(503, "Service Unavailable",
             "every admin slot has a request in progress; only /healthz and /readyz are "
             "answered now\n");
    } else if (path == "/reload" && reload_) {
      std::optional<std::string_view> auth = header(head, "authorization");
      if (method != "POST") {
        answer(405, "Method Not Allowed", "POST /reload\n", false, "Allow: POST\r\n");
      } else if (!settings_.unix_socket && settings_.token.empty()) {
        forbidden_++;
        answer(403, "Forbidden",
               "POST /reload over TCP needs a token (--admin-token-file); or use --admin "
               "unix:PATH, or SIGHUP\n");
      } else if (!settings_.unix_socket &&
                 !(auth && auth->starts_with("Bearer ") &&
                   same_secret(auth->substr(7), settings_.token))) {
        forbidden_++;
        GEV_INFO("admin: POST /reload from %s without the right token",
                 c.peer_address().to_string().c_str());
        answer(401, "Unauthorized", "POST /reload needs Authorization: Bearer TOKEN\n", false,
               "WWW-Authenticate: Bearer\r\n");
      } else if (!start_reload(c, peer, close)) {
        answer(503, "Service Unavailable", "this connection was closed to make room\n", true);
      } else {
        return {};  // answered when the reload is over
      }
    } else if (method != "GET" && method != "HEAD") {
      answer(405, "Method Not Allowed", "GET only\n", false, "Allow: GET, HEAD\r\n");
    } else if (path == "/metrics") {
      reply = response(200, "OK", "text/plain; version=0.0.4; charset=utf-8",
                       metrics_() + render_metrics(), close, is_head);
    } else if (path == "/healthz") {
      static constexpr std::string_view kWhy[] = {"ok (starting)\n", "ok\n", "stopping\n",
                                                  "draining: handed over to a new gev-host\n"};
      bool ok = h == Health::kServing || h == Health::kStarting;
      answer(ok ? 200 : 503, ok ? "OK" : "Service Unavailable", kWhy[static_cast<int>(h)]);
    } else if (path == "/readyz") {
      static constexpr std::string_view kWhy[] = {
          "not ready: starting\n", "ready\n", "not ready: stopping\n",
          "not ready: draining (handed over to a new gev-host)\n"};
      bool ok = h == Health::kServing;
      answer(ok ? 200 : 503, ok ? "OK" : "Service Unavailable", kWhy[static_cast<int>(h)]);
    } else {
      answer(404, "Not Found", "try /metrics, /healthz, /readyz or POST /reload\n");
    }
  }
  c.send(reply);  // copied into the output: the string dies with this call
  answered(c, peer, close);
  return {};
}

bool AdminEndpoint::start_reload(Connection& c, const std::shared_ptr<Peer>& peer, bool close) {
  {
    // Busy under the lock eviction takes: an evicted peer starts no reload it cannot answer.
    std::lock_guard lock(mu_);
    auto it = peers_.find(peer->id);
    if (it == peers_.end() || it->second != peer) return false;
    peer->busy = true;
  }
  if (peer->deadline) c.loop().cancel(peer->deadline);
  peer->deadline = 0;
  // The answer comes from the reload thread; the connection reads nothing more until then.
  c.pause_reading();
  reload_([this, conn = c.shared_from_this(), peer, close](bool ok, const std::string& message) {
    conn->send(text(ok ? 200 : 500, ok ? "OK" : "Internal Server Error", message + "\n", close));
    conn->loop().run_in_loop([this, conn, peer, close] {
      peer->busy = false;
      if (!close) conn->resume_reading();
      answered(*conn, peer, close);
    });
  });
  return true;
}

std::string AdminEndpoint::render_metrics() const {
  std::string out;
  auto counter = [&out](const char* name, const char* help, uint64_t v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n" + name +
           " " + std::to_string(v) + "\n";
  };
  counter("gev_admin_evicted_total",
          "Idle admin connections closed to make room for a new one (max 64).", evicted_.load());
  counter("gev_admin_refused_total",
          "Admin connections answered 503: every slot had a request in progress.",
          refused_.load());
  counter("gev_admin_timeouts_total", "Admin requests whose head did not complete in time (408).",
          timed_out_.load());
  counter("gev_admin_forbidden_total",
          "Admin requests refused: foreign Host or Origin, or POST /reload without its token.",
          forbidden_.load());
  return out;
}

bool read_admin_token(const std::string& path, std::string* token, std::string* error) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    *error = "--admin-token-file " + path + ": " + std::strerror(errno);
    return false;
  }
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    *error = "--admin-token-file " + path + ": readable by group or others (mode " + mode +
             "): chmod 600 it";
    return false;
  }
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) line.clear();
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
    line.pop_back();
  if (line.empty()) {
    *error = "--admin-token-file " + path + ": empty (the first line is the token)";
    return false;
  }
  *token = line;
  return true;
}

int listen_unix(const std::string& path, std::string* error) {
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof sun.sun_path) {
    *error = "unix socket path '" + path + "' is empty or too long";
    return -1;
  }
  std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      *error = path + " exists and is not a socket";
      return -1;
    }
    // Someone's socket: a live one (another gev-host) is not ours to take.
    int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool live = probe >= 0 && ::connect(probe, reinterpret_cast<sockaddr*>(&sun), sizeof sun) == 0;
    if (probe >= 0) ::close(probe);
    if (live) {
      *error = path + " is served by another process";
      return -1;
    }
    ::unlink(path.c_str());  // a stale socket of an earlier run
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  // 0600 before listen(): until then nobody can connect, so the mode is the lock from
  // the first connection on (no process-wide umask change while threads run).
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0 ||
      ::chmod(path.c_str(), 0600) != 0 || ::listen(fd, 128) != 0) {
    int err = errno;
    ::close(fd);
    *error = "listen on unix:" + path + ": " + std::strerror(err);
    return -1;
  }
  return fd;
}

}  // namespace gev::host
