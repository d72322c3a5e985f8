// Admin endpoint: a tiny HTTP/1.1 server on the host's own loops for GET /metrics
// (Prometheus text format 0.0.4), GET /healthz and POST /reload. One request per
// connection round trip, keep-alive honoured; anything else gets 404/405/400.
#pragma once

#include <gev/protocol.h>

#include <functional>
#include <string>

namespace gev::host {

class AdminEndpoint final : public gev::Protocol, public gev::Handler {
 public:
  // A reload's outcome: 200 with the message, or 500 with why nothing changed.
  using ReloadDone = std::function<void(bool ok, const std::string& message)>;
  // metrics() renders the /metrics body; called on a loop thread per scrape. reload(done)
  // starts a reload and calls done from any thread when it is over (none: 404).
  explicit AdminEndpoint(std::function<std::string()> metrics,
                         std::function<void(ReloadDone)> reload = {})
      : metrics_(std::move(metrics)), reload_(std::move(reload)) {}

  DecodeResult decode(Connection& c, std::span<const uint8_t> in) override;
  void encode(Connection& c, const Frame& msg, WriteBatch& out) override;
  std::span<const uint8_t> on_message(Connection& c, const Frame& request) override;

 private:
  void start_reload(Connection& c, bool close);

  std::function<std::string()> metrics_;
  std::function<void(ReloadDone)> reload_;
};

}  // namespace gev::host
