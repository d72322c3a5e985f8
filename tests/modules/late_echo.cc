// late_echo: echoes each message at once and, delay_ms later (option, default 300),
// logs "timer fired" from a
// timer that belongs to no connection (nor to a loop's setup); the timer then posts a
// task that posts itself from loop to loop 200 times and then logs "task ran". The reload test
// closes the connection and reloads before the timer fires: the old instance, and its
// code, must stay loaded until both have run.
#include <gev/sdk/cpp/module.h>

#include <cstdint>
#include <string>

namespace {

class LateEcho : public gev::sdk::Handler {
 public:
  explicit LateEcho(const gev::sdk::Config& cfg)
      : delay_ns_(std::stoull(cfg.get("delay_ms", "300")) * 1'000'000) {}
  gev_status on_message(gev::sdk::Conn c, const gev_frame& msg, gev_frame& reply) override {
    reply.data = msg.data;
    gev::sdk::host_api()->timer_start(c.loop(), nullptr, delay_ns_, 0, &LateEcho::fire, this);
    return GEV_OK;
  }

 private:
  static void fire(void*) {
    gev::sdk::log(GEV_LOG_INFO, "late_echo", "timer fired");
    bounce(reinterpret_cast<void*>(intptr_t{200}));
  }
  // Posts itself from loop to loop 200 times, then logs: each task holds the module
  // like the timer did, so none of them runs after the module is gone.
  static void bounce(void* arg) {
    intptr_t left = reinterpret_cast<intptr_t>(arg);
    if (left == 0) {
      gev::sdk::log(GEV_LOG_INFO, "late_echo", "task ran");
      return;
    }
    const gev_host_api* api = gev::sdk::host_api();
    gev_loop* next =
        api->loop_at(api->host, static_cast<uint32_t>(left) % api->loop_count(api->host));
    api->post(next, &LateEcho::bounce, reinterpret_cast<void*>(left - 1));
  }
  uint64_t delay_ns_;
};

}  // namespace

GEV_HANDLER_MODULE(LateEcho, "late_echo", "1.0.0")
