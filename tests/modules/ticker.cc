// ticker: echoes, and on the first message a loop sees, starts a repeating 20 ms timer
// there that belongs to no connection (with option in_create=1, also one on loop 0 from
// create, off the loops); loop_fini cancels them. A repeating timer must not
// keep its module loaded (loop_fini, which stops it, only runs once nothing does): the
// reload test checks that a replaced ticker is finished, destroyed and unloaded anyway.
#include <gev/sdk/cpp/module.h>

#include <atomic>
#include <vector>

namespace {

class Ticker : public gev::sdk::Handler {
 public:
  explicit Ticker(const gev::sdk::Config& cfg) : timers_(api()->loop_count(api()->host)) {
    if (cfg.get("in_create", "0") == "1")
      timers_[0] = api()->timer_start(api()->loop_at(api()->host, 0), nullptr, 20'000'000,
                                      20'000'000, &tick, this);
  }
  ~Ticker() override { gev::sdk::log(GEV_LOG_INFO, "ticker", "destroyed"); }

  gev_status on_message(gev::sdk::Conn c, const gev_frame& msg, gev_frame& reply) override {
    reply.data = msg.data;
    gev_timer_id& t = timers_[api()->loop_index(c.loop())];
    if (t == 0) t = api()->timer_start(c.loop(), nullptr, 20'000'000, 20'000'000, &tick, this);
    return GEV_OK;
  }
  void loop_fini(gev_loop* loop) override {
    gev_timer_id& t = timers_[api()->loop_index(loop)];
    if (t) api()->timer_cancel(loop, t);
    t = 0;
  }

 private:
  static const gev_host_api* api() { return gev::sdk::host_api(); }
  static void tick(void* self) { static_cast<Ticker*>(self)->ticks_++; }
  std::vector<gev_timer_id> timers_;  // per loop; each touched on its own loop only
  std::atomic<long> ticks_{0};
};

}  // namespace

GEV_HANDLER_MODULE(Ticker, "ticker", "1.0.0")
