// TlsSwitch: a listener's transport factory that a reload can replace. Connections
// accepted after the swap handshake with the new certificate; those already open keep
// the one they have. Plain listeners have one too (holding nothing), so that a reload
// can turn TLS on or off without a new socket.
#pragma once

#include <gev/tls.h>
#include <gev/transport.h>

#include <memory>
#include <mutex>
#include <string>

namespace gev::host {

class TlsSwitch final : public TransportFactory {
 public:
  std::unique_ptr<Transport> make() override {
    std::shared_ptr<TransportFactory> f;
    {
      std::lock_guard lock(mu_);
      f = current_;
    }
    return f ? f->make() : nullptr;
  }
  // identity: the settings and the files' identities the factory was made from.
  void set(std::shared_ptr<TransportFactory> f, std::string identity) {
    std::lock_guard lock(mu_);
    current_ = std::move(f);
    identity_ = std::move(identity);
  }
  std::string identity() const {
    std::lock_guard lock(mu_);
    return identity_;
  }
  // The listener's handshake counters and session-ticket keys: every factory set here
  // shares them, so a reload that re-reads the certificate keeps the series, and the
  // tickets already issued still resume.
  const std::shared_ptr<gev::tls::Context>& context() const { return context_; }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<TransportFactory> current_;  // null: plain TCP
  std::string identity_;
  const std::shared_ptr<gev::tls::Context> context_ = std::make_shared<gev::tls::Context>();
};

}  // namespace gev::host
