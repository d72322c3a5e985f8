// Admin endpoint: a tiny HTTP/1.1 server on the host's own loops for GET /metrics
// (Prometheus text format 0.0.4), GET /healthz, GET /readyz and POST /reload. One request
// per connection round trip, keep-alive honoured; anything else gets 404/405/400.
//
// It cannot be jammed by idle peers: each connection must complete a request head within
// request_timeout after it connects or after its last response (else 408, or a silent
// close when it sent nothing); at max_connections a newcomer takes the slot of the
// connection that has been idle longest; if every slot has a request in progress (a
// reload each), it gets one of 16 reserved slots where /healthz and /readyz are answered
// and anything else gets 503 (so a health check always gets through). A head over 8 KiB
// gets 431.
//
// It cannot be driven by a web page or another local user: POST /reload over TCP needs
// `Authorization: Bearer TOKEN` (--admin-token-file; without one it is refused with 403);
// on a unix socket (mode 0600) the file mode is the lock. Over TCP, a POST whose Host is
// not an IP address or localhost (DNS rebinding), or any request whose Origin is not
// such an http:// address, gets 403. GET /metrics, /healthz and /readyz need no token.
// A connection serves at most 100 requests (then Connection: close), one at a time.
#pragma once

#include <gev/protocol.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace gev::host {

struct AdminSettings {
  std::string token;  // empty: POST /reload over TCP is refused
  bool unix_socket = false;
  size_t max_connections = 64;
  std::chrono::milliseconds request_timeout{10000};
};

class AdminEndpoint final : public gev::Protocol, public gev::Handler {
 public:
  // A reload's outcome: 200 with the message, or 500 with why nothing changed.
  using ReloadDone = std::function<void(bool ok, const std::string& message)>;
  using Settings = AdminSettings;
  // What /healthz and /readyz report.
  enum class Health { kStarting, kServing, kStopping, kDraining };

  // metrics() renders the /metrics body; called on a loop thread per scrape. reload(done)
  // starts a reload and calls done from any thread when it is over (none: 404).
  explicit AdminEndpoint(std::function<std::string()> metrics,
                         std::function<void(ReloadDone)> reload = {}, Settings settings = {})
      : metrics_(std::move(metrics)), reload_(std::move(reload)), settings_(std::move(settings)) {}

  void set_health(Health h) { health_.store(h); }
  // Before the server starts: whether the socket served is a unix one (as --admin
  // unix:PATH says, or as the socket inherited from systemd or a predecessor is).
  void set_unix_socket(bool on) { settings_.unix_socket = on; }
  Health health() const { return health_.load(); }
  // The admin's own counters, in Prometheus text.
  std::string render_metrics() const;

  DecodeResult decode(Connection& c, std::span<const uint8_t> in) override;
  void encode(Connection& c, const Frame& msg, WriteBatch& out) override;
  void on_connect(Connection& c) override;
  std::span<const uint8_t> on_message(Connection& c, const Frame& request) override;
  void on_close(Connection& c) override;

 private:
  struct Peer;  // one admin connection's state (shared with its timers)
  // False if the peer was evicted meanwhile (nothing started).
  bool start_reload(Connection& c, const std::shared_ptr<Peer>& peer, bool close);
  void answered(Connection& c, const std::shared_ptr<Peer>& peer, bool close);
  void arm_timeout(Connection& c, const std::shared_ptr<Peer>& peer);
  // "" if the request may go on, else the 403 reason.

  std::function<std::string()> metrics_;
  std::function<void(ReloadDone)> reload_;
  Settings settings_;
  std::atomic<Health> health_{Health::kStarting};
  mutable std::mutex mu_;  // connections arrive on every loop
  std::unordered_map<uint64_t, std::shared_ptr<Peer>> peers_;
  // Over max_connections with no idle slot to take: up to this many more connections
  // for health checks (anything else gets 503); beyond them, 503 at once.
  static constexpr size_t kReservedSlots = 16;
  size_t reserved_ = 0;  // peers_ that hold a reserved slot
  std::atomic<uint64_t> evicted_{0}, refused_{0}, timed_out_{0}, forbidden_{0};
};

// Reads --admin-token-file: one line, refused (with *error) if the file is readable by
// group or others, unreadable or empty.
bool read_admin_token(const std::string& path, std::string* token, std::string* error);
// A listening unix socket at `path`, mode 0600 (a stale socket file there is replaced;
// any other file is an error). -1 and *error on failure.
int listen_unix(const std::string& path, std::string* error);

}  // namespace gev::host
