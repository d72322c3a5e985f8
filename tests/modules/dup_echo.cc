// dup_echo: claims the name "echo", which the built-in echo module already has.
#include <gev/sdk/cpp/module.h>

namespace {
class DupEcho : public gev::sdk::Handler {
 public:
  explicit DupEcho(const gev::sdk::Config&) {}
  gev_status on_message(gev::sdk::Conn, const gev_frame&, gev_frame&) override { return GEV_OK; }
};
}  // namespace

GEV_HANDLER_MODULE(DupEcho, "echo", "0.0.1")
