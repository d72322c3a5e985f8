// ticker: echoes, and on the first message a loop sees, starts a repeating 20 ms timer
// there that belongs to no connection; loop_fini cancels it. A repeating timer must not
// keep its module loaded (loop_fini, which stops it, only runs once nothing does): the
// reload test checks that a replaced ticker is finished, destroyed and unloaded anyway.
// Option start:
//   message  (default) as above;
//   create   also one on loop 0, started from create (off the loops);
//   thread   started by a task that a thread of the module's own posts to the loop, and
//            never cancelled by the module: the host must know whose timer it is and
//            cancel it after loop_fini, or it fires into an unloaded library.
#include <gev/sdk/cpp/module.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

class Ticker : public gev::sdk::Handler {
 public:
  explicit Ticker(const gev::sdk::Config& cfg)
      : start_(cfg.get("start", "message")), loops_(api()->loop_count(api()->host)) {
    for (size_t i = 0; i < loops_.size(); ++i) loops_[i].self = this;
    if (start_ == "create")
      loops_[0].timer =
          api()->timer_start(api()->loop_at(api()->host, 0), nullptr, kEvery, kEvery, &tick, this);
  }
  ~Ticker() override {
    for (std::thread& t : threads_) t.join();
    gev::sdk::log(GEV_LOG_INFO, "ticker", "destroyed");
  }

  gev_status on_message(gev::sdk::Conn c, const gev_frame& msg, gev_frame& reply) override {
    reply.data = msg.data;
    Loop& l = loops_[api()->loop_index(c.loop())];
    if (l.started) return GEV_OK;
    l.started = true;
    l.loop = c.loop();
    if (start_ != "thread") {
      l.timer = api()->timer_start(c.loop(), nullptr, kEvery, kEvery, &tick, this);
      return GEV_OK;
    }
    std::lock_guard lock(mu_);
    threads_.emplace_back([&l] { api()->post(l.loop, &start_here, &l); });
    return GEV_OK;
  }
  void loop_fini(gev_loop* loop) override {
    Loop& l = loops_[api()->loop_index(loop)];
    if (l.timer && start_ != "thread") api()->timer_cancel(loop, l.timer);
    l.timer = 0;
  }

 private:
  static constexpr uint64_t kEvery = 20'000'000;
  struct Loop {
    Ticker* self = nullptr;
    gev_loop* loop = nullptr;
    bool started = false;
    gev_timer_id timer = 0;
  };
  static const gev_host_api* api() { return gev::sdk::host_api(); }
  static void tick(void* self) { static_cast<Ticker*>(self)->ticks_++; }
  static void start_here(void* arg) {
    Loop* l = static_cast<Loop*>(arg);
    l->timer = api()->timer_start(l->loop, nullptr, kEvery, kEvery, &tick, l->self);
  }

  std::string start_;
  std::vector<Loop> loops_;  // each touched on its own loop only
  std::mutex mu_;
  std::vector<std::thread> threads_;
  std::atomic<long> ticks_{0};
};

}  // namespace

GEV_HANDLER_MODULE(Ticker, "ticker", "1.0.0")
