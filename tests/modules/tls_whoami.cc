// tls_whoami: answers every message with what the connection's TLS negotiated, as read
// in on_connect (over TLS the handshake is done by then), one field per line:
//   version cipher alpn server_name resumed peer_verified subject san fingerprint
// A plain connection answers "plain"; "bye" gets the answer and then a close. For the TLS
// tests (ABI 1.3, conn.tls()).
#include <gev/sdk/cpp/module.h>

#include <string>
#include <string_view>

namespace {
class TlsWhoami : public gev::sdk::Handler {
 public:
  explicit TlsWhoami(const gev::sdk::Config& cfg) { cfg.allow_only({}); }
  gev_status on_connect(gev::sdk::Conn c) override {
    gev::sdk::TlsInfo t;
    auto* text = new std::string("plain");
    if (c.tls(&t)) {
      *text = std::string(t.version) + "\n" + std::string(t.cipher) + "\n" +
              std::string(t.alpn) + "\n" + std::string(t.server_name) + "\n" +
              (t.resumed ? "resumed" : "full") + "\n" +
              (t.peer_verified ? "verified" : "anonymous") + "\n" + std::string(t.peer_subject) +
              "\n" + std::string(t.peer_san) + "\n" + (t.peer_verified ? t.fingerprint() : "");
    }
    c.set_context(text);
    return GEV_OK;
  }
  gev_status on_message(gev::sdk::Conn c, const gev_frame& in, gev_frame&) override {
    gev_status st = c.send(*static_cast<std::string*>(c.context()));
    // "bye": the answer, then a close from the same callback (the answer must still
    // arrive, before close_notify).
    if (std::string_view(reinterpret_cast<const char*>(in.data.ptr), in.data.len) == "bye")
      c.close();
    return st;
  }
  void on_close(gev::sdk::Conn c) override { delete static_cast<std::string*>(c.context()); }
};
}  // namespace

GEV_HANDLER_MODULE(TlsWhoami, "tls_whoami", "1.0.0")
