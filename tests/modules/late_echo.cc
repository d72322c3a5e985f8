// late_echo: echoes each message at once and, 300 ms later, logs "timer fired" from a
// timer that belongs to no connection (nor to a loop's setup). The reload test closes
// the connection and reloads before it fires: the old instance, and its code, must stay
// loaded until it has.
#include <gev/sdk/cpp/module.h>

namespace {

class LateEcho : public gev::sdk::Handler {
 public:
  explicit LateEcho(const gev::sdk::Config&) {}
  gev_status on_message(gev::sdk::Conn c, const gev_frame& msg, gev_frame& reply) override {
    reply.data = msg.data;
    gev::sdk::host_api()->timer_start(c.loop(), nullptr, 300'000'000, 0, &LateEcho::fire, this);
    return GEV_OK;
  }

 private:
  static void fire(void*) { gev::sdk::log(GEV_LOG_INFO, "late_echo", "timer fired"); }
};

}  // namespace

GEV_HANDLER_MODULE(LateEcho, "late_echo", "1.0.0")
