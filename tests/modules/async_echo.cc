// async_echo: replies from a worker thread of its own with send_to (ABI 1.1), the way
// an application hands work to a pool and answers later. Replies carry the request's
// type, so over websocket a text message comes back as text.
#include <gev/sdk/cpp/module.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

namespace {

class AsyncEcho : public gev::sdk::Handler {
 public:
  explicit AsyncEcho(const gev::sdk::Config&) : worker_([this] { run(); }) {}
  ~AsyncEcho() override {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    worker_.join();
  }

  gev_status on_message(gev::sdk::Conn c, const gev_frame& msg, gev_frame&) override {
    if (msg.type >= 0x100) return GEV_OK;  // a WebSocket upgrade request: accept it
    {
      std::lock_guard lock(mu_);
      jobs_.push_back({c.id(), msg.type, std::string(gev::sdk::view(msg.data))});
    }
    cv_.notify_one();
    return GEV_OK;
  }

 private:
  struct Job {
    uint64_t conn;
    uint32_t type;
    std::string data;
  };

  void run() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping, and nothing left to answer
      Job job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      // GEV_ERR_CLOSED when the client has gone: nothing to do about it.
      gev::sdk::send_to(job.conn, job.data, job.type);
      lock.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  bool stop_ = false;
  std::thread worker_;  // last: starts after the members it uses
};

}  // namespace

GEV_HANDLER_MODULE(AsyncEcho, "async_echo", "1.0.0")
