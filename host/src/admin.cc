// AdminEndpoint implementation. Requests are small: the head must fit in 8 KiB, and
// bodies are not accepted.
#include "admin.h"

#include <gev/connection.h>
#include <gev/log.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string_view>

#include "admin_http.h"

namespace gev::host {

namespace {
constexpr uint32_t kHeadTooLarge = 1;  // frame type: the head did not fit

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string text(int status, const char* reason, std::string_view body, bool close) {
  admin::Answer a;
  a.status = status;
  a.reason = reason;
  a.body = std::string(body);
  a.close = close;
  return admin::render(a);
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
  size_t n = admin::head_size({reinterpret_cast<const char*>(in.data()), in.size()});
  if (n == admin::kHeadTooLarge) return DecodeResult::frame_of(in.size(), Frame{{}, kHeadTooLarge, {}});
  if (n == 0) return DecodeResult::need_more();
  return DecodeResult::frame_of(n, Frame{in.subspan(0, n - 2), 0, {}});
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

std::span<const uint8_t> AdminEndpoint::on_message(Connection& c, const Frame& request) {
  auto* slot = std::any_cast<std::shared_ptr<Peer>>(&c.context());
  if (!slot) return {};
  std::shared_ptr<Peer> peer = *slot;
  if (request.type == kHeadTooLarge) {
    c.send(text(431, "Request Header Fields Too Large", "request head over 8 KiB\n", true));
    answered(c, peer, true);
    return {};
  }
  admin::View view;
  view.unix_socket = settings_.unix_socket;
  view.token = settings_.token;
  view.reserve = peer->reserve;  // one request on a reserved slot
  view.can_reload = static_cast<bool>(reload_);
  view.health = static_cast<int>(health());
  view.close = ++peer->requests >= kMaxRequestsPerConnection;
  admin::Answer a = admin::route(
      {reinterpret_cast<const char*>(request.data.data()), request.data.size()}, view);
  if (a.count == admin::Answer::kForbidden) forbidden_++;
  if (a.count == admin::Answer::kRefused) refused_++;
  if (!a.log.empty())
    GEV_INFO("admin: %s (from %s)", a.log.c_str(), c.peer_address().to_string().c_str());
  std::string reply;
  switch (a.kind) {
    case admin::Answer::kReload:
      if (start_reload(c, peer, a.close)) return {};  // answered when the reload is over
      reply = text(503, "Service Unavailable", "this connection was closed to make room\n", true);
      a.close = true;
      break;
    case admin::Answer::kMetrics:
      a.body = metrics_() + render_metrics();
      reply = admin::render(a, "text/plain; version=0.0.4; charset=utf-8");
      break;
    case admin::Answer::kText:
      reply = admin::render(a);
      break;
  }
  c.send(reply);  // copied into the output: the string dies with this call
  answered(c, peer, a.close);
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
