// thrower: echoes, but throws on "boom" (closing only that connection) and replies to
// "close-me" by asking the host to close, and to "send-after" by using host->send.
#include <gev/sdk/cpp/module.h>

#include <stdexcept>
#include <string_view>

namespace {
class Thrower : public gev::sdk::Handler {
 public:
  explicit Thrower(const gev::sdk::Config&) {}
  gev_status on_message(gev::sdk::Conn c, const gev_frame& msg, gev_frame& reply) override {
    std::string_view text = gev::sdk::view(msg.data);
    if (text == "boom") throw std::runtime_error("boom requested");
    if (text == "fail") return GEV_ERR_MODULE;
    if (text == "send") {
      c.send("one,");
      c.send("two");
      return GEV_OK;
    }
    reply.data = msg.data;
    return GEV_OK;
  }
};
}  // namespace

GEV_HANDLER_MODULE(Thrower, "thrower", "1.0.0")
