// push: gev's pushmessage example. Echoes every message, and every interval sends a
// message to every connection this module serves.
//
//   --module-opt push.interval_ms=1000   how often (default 1000, at least 1)
//   --module-opt push.message=TEXT       what (default "push N\n", N counting the ticks of
//                                        the connection's loop from 1); the escapes \n \r
//                                        \t \0 and \\ are understood
//
// No locks: loop_init starts a repeating timer on each loop, and each tick sends only to
// that loop's connections (for_each_conn), on that loop's thread. The per-loop records
// live in a lock-free list until destroy.
#include <gev/sdk/cpp/module.h>

#include <atomic>
#include <charconv>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>

namespace {

constexpr const char* kName = "push";

const gev_host_api* api() {
  return gev::sdk::host_api();
}

class Push : public gev::sdk::Handler {
 public:
  explicit Push(const gev::sdk::Config& cfg) {
    cfg.allow_only({"interval_ms", "message"});
    uint64_t ms = cfg.get_uint("interval_ms", 1000);
    if (ms == 0 || ms > UINT64_MAX / 1000000)
      throw std::invalid_argument("push.interval_ms must be a positive number of ms, got '" +
                                  cfg.get("interval_ms") + "'");
    interval_ns_ = ms * 1000000;
    custom_ = cfg.has("message");
    if (custom_) message_ = cfg.get_escaped("message", "");
  }

  ~Push() override {
    for (LoopTimer* t = timers_.load(std::memory_order_acquire); t;) {
      LoopTimer* next = t->next;
      delete t;
      t = next;
    }
  }

  gev_status on_message(gev::sdk::Conn, const gev_frame& msg, gev_frame& reply) override {
    reply.data = msg.data;
    return GEV_OK;
  }

  // On `loop`'s thread: this loop's timer. Records are only ever added here.
  gev_status loop_init(gev_loop* loop) override {
    auto* t = new LoopTimer{this, loop};
    t->id = api()->timer_start(loop, nullptr, interval_ns_, interval_ns_, &LoopTimer::tick, t);
    t->next = timers_.load(std::memory_order_relaxed);
    while (!timers_.compare_exchange_weak(t->next, t, std::memory_order_release,
                                          std::memory_order_relaxed)) {
    }
    if (t->id == 0) {
      gev::sdk::log(GEV_LOG_ERROR, kName, "cannot start the push timer");
      return GEV_ERR_MODULE;
    }
    return GEV_OK;
  }

  // Cancels this loop's timer; its record stays until destroy (a tick already queued
  // may still use it).
  void loop_fini(gev_loop* loop) override {
    for (LoopTimer* t = timers_.load(std::memory_order_acquire); t; t = t->next) {
      if (t->loop != loop || t->id == 0) continue;
      api()->timer_cancel(loop, t->id);
      t->id = 0;
    }
  }

 private:
  struct LoopTimer {
    Push* self;
    gev_loop* loop;
    gev_timer_id id = 0;
    uint64_t ticks = 0;  // touched only on `loop`'s thread
    LoopTimer* next = nullptr;

    // Called by the host (through C): nothing may escape.
    static void tick(void* arg) noexcept {
      auto* t = static_cast<LoopTimer*>(arg);
      ++t->ticks;
      try {
        std::string text =
            t->self->custom_ ? t->self->message_ : "push " + std::to_string(t->ticks) + "\n";
        gev_frame f{sizeof(gev_frame), 0, gev::sdk::bytes(std::string_view(text)), {nullptr, 0}};
        api()->for_each_conn(
            api()->host, t->loop,
            [](gev_conn* c, void* frame) { api()->send(c, static_cast<const gev_frame*>(frame)); },
            &f);
      } catch (const std::exception& e) {
        gev::sdk::log(GEV_LOG_WARN, kName, e.what());
      }
    }
  };

  uint64_t interval_ns_ = 0;
  bool custom_ = false;
  std::string message_;
  std::atomic<LoopTimer*> timers_{nullptr};
};

}  // namespace

GEV_HANDLER_MODULE(Push, "push", "1.0.0")
