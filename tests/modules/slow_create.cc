// slow_create: an echo whose create() takes sleep_ms (default 0) on the reload thread,
// so a test can hold admin requests (POST /reload) in progress while the loops run on.
#include <gev/sdk/cpp/module.h>

#include <chrono>
#include <thread>

namespace {
class SlowCreate : public gev::sdk::Handler {
 public:
  explicit SlowCreate(const gev::sdk::Config& cfg) {
    cfg.allow_only({"sleep_ms"});
    std::this_thread::sleep_for(std::chrono::milliseconds(cfg.get_uint("sleep_ms", 0)));
  }
  gev_status on_message(gev::sdk::Conn, const gev_frame& msg, gev_frame& reply) override {
    reply.data = msg.data;
    return GEV_OK;
  }
};
}  // namespace

GEV_HANDLER_MODULE(SlowCreate, "slow_create", "1.0.0")
