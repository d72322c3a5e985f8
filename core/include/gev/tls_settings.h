// TlsSettings: what a TLS listener is made from (Options::tls; gev::tls::Settings is the
// same struct). Plain strings only: the core needs no OpenSSL. The TLS itself is in the
// gev::tls library; a program that sets Options::tls links it and includes <gev/tls.h>,
// which registers it with the core (else add_listener refuses the options, saying so).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace gev {

class TransportFactory;

struct TlsSettings {
  std::string cert_file;   // PEM: the certificate, optionally followed by its chain; empty: no TLS
  std::string key_file;    // PEM: its private key; refused if group- or world-readable
  std::string chain_file;  // PEM: more chain certificates (optional)
  std::string min_version = "1.2";  // "1.2" or "1.3"
  std::string ciphers;              // TLS 1.2 list, OpenSSL syntax (empty: OpenSSL's defaults)
  std::string ciphersuites;         // TLS 1.3 list (empty: OpenSSL's defaults)
  std::vector<std::string> alpn;    // protocols spoken, preferred first (empty: no ALPN)
  // More certificate/key pairs, chosen by SNI: a ClientHello naming a host that one of
  // them covers (its SANs, or CN without SANs) gets it; any other gets the first above.
  std::vector<std::pair<std::string, std::string>> more_certificates;
  // Mutual TLS: client certificates are verified against these CAs (PEM), "required"
  // (a client without one is refused) or "optional".
  std::string client_ca_file;
  std::string client_verify = "required";
  // Session tickets: their keys rotate this often (a ticket lives one to two periods);
  // 0 turns tickets off (the session cache still resumes TLS 1.2); at most
  // kMaxTicketRotation.
  std::chrono::seconds ticket_rotation{3600};
};
inline constexpr std::chrono::seconds kMaxTicketRotation{7 * 24 * 3600};

namespace detail {
// Set by <gev/tls.h>: makes the transport for Options::tls. Null when gev::tls is absent.
using TlsMaker = std::shared_ptr<TransportFactory> (*)(const TlsSettings&, std::string* error);
void set_tls_maker(TlsMaker maker);
TlsMaker tls_maker();
}  // namespace detail

}  // namespace gev
