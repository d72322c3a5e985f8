// proxy: each accepted connection gets one upstream connection (ABI 1.4 dial) and the
// bytes flow both ways, the two sides linked so that a side that does not read pauses
// the other instead of filling memory. Over raw it is an L4 TCP proxy; over websocket
// a WebSocket-to-TCP bridge (each message forwarded as bytes, each upstream read sent as
// a binary message).
//
//   [module.proxy]
//   upstreams = 127.0.0.1:1833 127.0.0.1:1834    (host:port, space- or comma-separated)
//   balance = round-robin | least-connections
//   connect-timeout = 5000       ms per attempt
//   retries = 2                  other upstreams tried after a failed connect
//   fail-threshold = 3           consecutive failures that rest an upstream...
//   rest = 10000                 ...for this many ms (passive health)
//   proxy-protocol = off | v1 | v2   a PROXY header towards the upstream first
//   high-water = 1048576, low-water = 262144   the link's marks (bytes)
//
// Half-close travels: a client's FIN becomes the upstream's, and the other way round;
// the pair closes when both directions have ended, or when either side fails.
#include <gev/sdk/cpp/module.h>
#include <gev/sdk/websocket.h>

#include <arpa/inet.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace {

using gev::sdk::Conn;

uint64_t now_ms() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

struct Upstream {
  std::string address;
  std::atomic<uint32_t> fails{0};         // consecutive connect failures
  std::atomic<uint64_t> rest_until{0};    // ms (steady clock): skipped until then
  std::atomic<int64_t> active{0};         // open connections through it
};

// One client and its upstream. Owned by the module; freed when both sides are gone.
struct Pair {
  gev_conn* client = nullptr;  // null once closed
  gev_conn* up = nullptr;      // null until connected, and once closed
  bool dialing = false;
  size_t upstream = 0;
  uint32_t tries = 0;
  bool ws = false;  // the client speaks WebSocket (its messages are text or binary)
};

constexpr uint32_t kWsOpen = GEV_WS_OPEN;

class Proxy : public gev::sdk::Handler {
 public:
  explicit Proxy(const gev::sdk::Config& cfg) {
    cfg.allow_only({"upstreams", "balance", "connect-timeout", "retries", "fail-threshold", "rest",
                    "proxy-protocol", "high-water", "low-water"});
    std::string list = cfg.get("upstreams");
    for (char& ch : list)
      if (ch == ',') ch = ' ';
    size_t at = 0;
    while (at < list.size()) {
      size_t end = list.find(' ', at);
      if (end == std::string::npos) end = list.size();
      if (end > at) upstreams_.emplace_back().address = list.substr(at, end - at);
      at = end + 1;
    }
    if (upstreams_.empty())
      throw std::invalid_argument("proxy.upstreams: no upstream (host:port, space-separated)");
    std::string b = cfg.get("balance", "round-robin");
    if (b != "round-robin" && b != "least-connections")
      throw std::invalid_argument("proxy.balance: round-robin or least-connections, not '" + b + "'");
    least_ = b == "least-connections";
    timeout_ms_ = static_cast<uint32_t>(cfg.get_uint("connect-timeout", 5000));
    retries_ = static_cast<uint32_t>(cfg.get_uint("retries", 2));
    threshold_ = static_cast<uint32_t>(cfg.get_uint("fail-threshold", 3));
    rest_ms_ = cfg.get_uint("rest", 10000);
    std::string pp = cfg.get("proxy-protocol", "off");
    if (pp != "off" && pp != "v1" && pp != "v2")
      throw std::invalid_argument("proxy.proxy-protocol: off, v1 or v2, not '" + pp + "'");
    proxy_protocol_ = pp == "off" ? 0 : pp == "v1" ? 1 : 2;
    high_ = cfg.get_uint("high-water", 1u << 20);
    low_ = cfg.get_uint("low-water", 256u << 10);
    const gev_host_api* h = gev::sdk::host_api();
    connect_failed_ = h->metric_define(h->host, "upstream_connect_failed",
                                       "Upstream connects that failed (refused, timed out, ...)", 0);
    no_upstream_ = h->metric_define(h->host, "no_upstream",
                                    "Clients closed because every upstream was resting or failed", 0);
    pairs_open_ = h->metric_define(h->host, "pairs", "Client connections being proxied", 1);
  }

  gev_status on_connect(Conn c) override {
    if (c.outbound()) return upstream_connected(c);
    auto* p = new Pair;
    p->client = c.get();
    c.set_context(p);
    c.pause_reading();  // until the upstream is there
    metric(pairs_open_, +1);
    dial_next(*p);
    return GEV_OK;
  }

  void on_connect_failed(const gev_dial_failure& f) override {
    auto* p = static_cast<Pair*>(f.context);
    p->dialing = false;
    Upstream& u = upstreams_[p->upstream];
    metric(connect_failed_, 1);
    if (u.fails.fetch_add(1) + 1 >= threshold_) u.rest_until = now_ms() + rest_ms_;
    char line[256];
    std::snprintf(line, sizeof line, "upstream %s: connect failed (reason %d, errno %d)",
                  u.address.c_str(), f.reason, f.error);
    gev::sdk::log(f.reason == GEV_DIAL_CANCELLED ? GEV_LOG_DEBUG : GEV_LOG_WARN, "proxy", line);
    if (!p->client) {  // the client left meanwhile
      delete p;
      return;
    }
    if (f.reason != GEV_DIAL_CANCELLED && p->tries <= retries_) {
      dial_next(*p);
      return;
    }
    Conn(p->client).abort();
  }

  gev_status on_message(Conn c, const gev_frame& msg, gev_frame&) override {
    auto* p = static_cast<Pair*>(c.context());
    if (!p) return GEV_OK;
    if (c.outbound()) {  // upstream bytes: as they are, or one binary WebSocket message
      if (p->client)
        Conn(p->client).send({sizeof(gev_frame), p->ws ? GEV_WS_BINARY : 0u, msg.data, {}});
      return GEV_OK;
    }
    if (msg.type == kWsOpen) {  // a WebSocket client: its upgrade is accepted after this
      p->ws = true;
      if (p->up) Conn(p->up).resume_reading();
      return GEV_OK;
    }
    if (msg.type != 0 && msg.type != GEV_WS_TEXT && msg.type != GEV_WS_BINARY) return GEV_OK;
    if (p->up) Conn(p->up).send({sizeof(gev_frame), 0, msg.data, {}});  // (closing if it failed)
    return GEV_OK;
  }

  bool on_peer_eof(Conn c) override {
    auto* p = static_cast<Pair*>(c.context());
    if (!p) return false;
    gev_conn* other = c.outbound() ? p->client : p->up;
    if (!other) return false;
    Conn(other).shutdown_write();  // the FIN travels on; this side may still be written
    return true;
  }

  void on_close(Conn c) override {
    auto* p = static_cast<Pair*>(c.context());
    if (!p) return;
    c.set_context(nullptr);
    gev_conn* other;
    if (c.outbound()) {
      p->up = nullptr;
      upstreams_[p->upstream].active.fetch_sub(1);
      other = p->client;
    } else {
      p->client = nullptr;
      metric(pairs_open_, -1);
      other = p->up;
    }
    if (!p->client && !p->up && !p->dialing) delete p;  // (a dial in flight frees it later)
    // Last: the other side's close may run its on_close now, which finds this side gone
    // (and frees the pair). It sends what it holds for its peer first.
    if (other) Conn(other).close();
  }

 private:
  gev_status upstream_connected(Conn up) {
    auto* p = static_cast<Pair*>(up.context());
    p->dialing = false;
    Upstream& u = upstreams_[p->upstream];
    u.fails = 0;
    u.rest_until = 0;
    if (!p->client) {  // the client left while we dialled
      up.set_context(nullptr);
      delete p;
      return GEV_ERR_CLOSED;  // closes it (no on_close for a refused connect)
    }
    u.active.fetch_add(1);
    p->up = up.get();
    Conn client(p->client);
    client.link(up, high_, low_);
    // A WebSocket client hears nothing before its upgrade is answered: an upstream that
    // speaks first (a banner) waits until then.
    if (!p->ws && client.protocol() == "websocket") up.pause_reading();
    if (proxy_protocol_) up.send(proxy_header(client, proxy_protocol_));
    client.resume_reading();
    return GEV_OK;
  }

  void dial_next(Pair& p) {
    size_t n = upstreams_.size();
    uint64_t now = now_ms();
    size_t pick = n;
    size_t start = rr_.fetch_add(1) % n;
    for (size_t k = 0; k < n; ++k) {
      size_t i = (start + k) % n;
      if (p.tries > 0 && i == p.upstream && n > 1) continue;  // a retry goes elsewhere
      if (upstreams_[i].rest_until.load() > now) continue;
      if (!least_) {
        pick = i;
        break;
      }
      if (pick == n || upstreams_[i].active.load() < upstreams_[pick].active.load()) pick = i;
    }
    Conn client(p.client);
    if (pick == n) {
      metric(no_upstream_, 1);
      gev::sdk::log(GEV_LOG_WARN, "proxy", "no upstream to try (all resting); closing the client");
      client.abort();
      return;
    }
    p.upstream = pick;
    p.tries++;
    p.dialing = true;
    gev_status st = gev::sdk::dial(client.loop(), upstreams_[pick].address, &p, "raw", nullptr,
                                   timeout_ms_);
    if (st != GEV_OK) {
      p.dialing = false;
      client.abort();
    }
  }

  // PROXY protocol (haproxy.org/download/2.6/doc/proxy-protocol.txt) for the client's
  // connection: v1 a text line, v2 a binary header.
  static std::string proxy_header(Conn c, int version) {
    std::string src = c.peer_address(), dst = c.local_address();
    auto split = [](const std::string& a, std::string* host, uint16_t* port) {
      size_t colon = a.rfind(':');
      *host = a.substr(0, colon);
      if (host->size() > 1 && host->front() == '[') *host = host->substr(1, host->size() - 2);
      *port = static_cast<uint16_t>(std::strtoul(a.c_str() + colon + 1, nullptr, 10));
    };
    std::string sh, dh;
    uint16_t sp = 0, dp = 0;
    split(src, &sh, &sp);
    split(dst, &dh, &dp);
    bool v6 = sh.find(':') != std::string::npos;
    if (version == 1)
      return std::string("PROXY ") + (v6 ? "TCP6 " : "TCP4 ") + sh + " " + dh + " " +
             std::to_string(sp) + " " + std::to_string(dp) + "\r\n";
    static const char sig[] = "\r\n\r\n\0\r\nQUIT\n";
    std::string h(sig, 12);
    h += static_cast<char>(0x21);               // version 2, PROXY
    h += static_cast<char>(v6 ? 0x21 : 0x11);   // TCP over IPv6 / IPv4
    uint16_t len = htons(v6 ? 36 : 12);
    h.append(reinterpret_cast<const char*>(&len), 2);
    unsigned char a[16], b[16];
    int fam = v6 ? AF_INET6 : AF_INET;
    inet_pton(fam, sh.c_str(), a);
    inet_pton(fam, dh.c_str(), b);
    size_t alen = v6 ? 16 : 4;
    h.append(reinterpret_cast<const char*>(a), alen);
    h.append(reinterpret_cast<const char*>(b), alen);
    uint16_t nsp = htons(sp), ndp = htons(dp);
    h.append(reinterpret_cast<const char*>(&nsp), 2);
    h.append(reinterpret_cast<const char*>(&ndp), 2);
    return h;
  }
  static void metric(gev_metric* m, int64_t d) {
    if (m) gev::sdk::host_api()->metric_add(m, d);
  }

  std::deque<Upstream> upstreams_;  // (atomics: not movable, so not a vector)
  bool least_ = false;
  uint32_t timeout_ms_, retries_, threshold_;
  uint64_t rest_ms_, high_, low_;
  int proxy_protocol_ = 0;
  std::atomic<size_t> rr_{0};
  gev_metric* connect_failed_;
  gev_metric* no_upstream_;
  gev_metric* pairs_open_;
};

}  // namespace

GEV_HANDLER_MODULE(Proxy, "proxy", "1.0.0")
