// embed_tls_echo: embed_echo over TLS. Options::tls names the certificate and key; the
// gev::tls library (linked, and registered by including <gev/tls.h>) does the rest. A
// handler sees what the handshake negotiated in on_connect through Connection::tls().
//   embed_tls_echo --port 1843 --tls-cert cert.pem --tls-key key.pem
//   then: openssl s_client -connect 127.0.0.1:1843 -quiet
#include <gev/flags.h>
#include <gev/log.h>
#include <gev/server.h>
#include <gev/tls.h>

#include <cstdio>
#include <stdexcept>

namespace {

class EchoHandler : public gev::Handler {
 public:
  void on_connect(gev::Connection& c) override {
    if (const gev::TlsInfo* t = c.tls())
      GEV_INFO("conn %llu from %s: %.*s %.*s%s%s", static_cast<unsigned long long>(c.id()),
               c.peer_address().to_string().c_str(), static_cast<int>(t->version.size()),
               t->version.data(), static_cast<int>(t->cipher.size()), t->cipher.data(),
               t->peer_verified ? ", client " : "", t->peer_subject.c_str());
  }
  std::span<const uint8_t> on_message(gev::Connection&, const gev::Frame& frame) override {
    return frame.data;  // the reply, encrypted on its way out
  }
};

}  // namespace

int main(int argc, char** argv) {
  gev::Options options;
  options.address = "127.0.0.1:1843";
  if (!gev::parse_flags(argc, argv, options)) return 2;
  if (options.tls.cert_file.empty() || options.tls.key_file.empty()) {
    std::fprintf(stderr, "%s: --tls-cert and --tls-key are required\n", argv[0]);
    return 2;
  }
  EchoHandler handler;
  try {
    gev::Server server(handler, options);  // a bad certificate or key throws, naming it
    server.run();
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
    return 2;
  }
  return 0;
}
