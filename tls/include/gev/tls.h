// TLS for gev listeners: a Transport (gev/transport.h) on OpenSSL, over memory BIOs (it
// never touches the socket). A library of its own, gev::tls, so that the core needs no
// OpenSSL. See docs/transport.md.
#pragma once

#include <gev/transport.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace gev::tls {

struct Settings {
  std::string cert_file;   // PEM: the certificate, optionally followed by its chain
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
};

// Loads and checks the settings once (the files, the key against the certificate, the
// certificate's dates); every connection's transport then shares them. Null, with
// *error naming the file and the reason, if anything is wrong.
std::shared_ptr<TransportFactory> server(const Settings& settings, std::string* error);

}  // namespace gev::tls
