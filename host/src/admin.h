// Admin endpoint: a tiny HTTP/1.1 server on the host's own loops for /metrics
// (Prometheus text format 0.0.4) and /healthz. GET only; one request per connection
// round trip, keep-alive honoured; anything else gets 404/405/400.
#pragma once

#include <gev/protocol.h>

#include <functional>
#include <string>

namespace gev::host {

class AdminEndpoint final : public gev::Protocol, public gev::Handler {
 public:
  // metrics() renders the /metrics body; called on a loop thread per scrape.
  explicit AdminEndpoint(std::function<std::string()> metrics) : metrics_(std::move(metrics)) {}

  DecodeResult decode(Connection& c, std::span<const uint8_t> in) override;
  void encode(Connection& c, const Frame& msg, WriteBatch& out) override;
  std::span<const uint8_t> on_message(Connection& c, const Frame& request) override;

 private:
  std::function<std::string()> metrics_;
};

}  // namespace gev::host
