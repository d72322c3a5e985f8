// echo: replies to every message with the message itself (with its type, so over
// WebSocket a text message comes back as text). It keeps no state, so a reload that
// replaces it moves its open connections to the new instance (kAdopts).
#include <gev/sdk/cpp/module.h>

namespace {

class Echo : public gev::sdk::Handler {
 public:
  explicit Echo(const gev::sdk::Config&) {}
  static constexpr bool kAdopts = true;  // nothing to hand over
  gev_status on_message(gev::sdk::Conn, const gev_frame& msg, gev_frame& reply) override {
    reply.data = msg.data;  // a view of the input: sent without a copy
    return GEV_OK;
  }
};

}  // namespace

GEV_HANDLER_MODULE(Echo, "echo", "1.0.0")
