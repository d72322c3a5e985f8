// ReloadThread implementation.
#include "reload_thread.h"

namespace gev::host {

ReloadThread::ReloadThread(Runtime& runtime) : runtime_(runtime), thread_([this] { run(); }) {}

ReloadThread::~ReloadThread() {
  shutdown();
}

void ReloadThread::shutdown() {
  {
    std::lock_guard lock(mu_);
    quit_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ReloadThread::request(std::function<void(const Runtime::Result&)> done) {
  {
    std::lock_guard lock(mu_);
    if (!quit_) {
      queue_.push_back(std::move(done));
      cv_.notify_all();
      return;
    }
  }
  done({false, "the server is stopping"});
}

void ReloadThread::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return quit_ || !queue_.empty(); });
    if (quit_) break;
    // Everyone who asked while the last reload ran shares the next one (a burst of
    // SIGHUPs is one reload, not one each).
    std::deque<std::function<void(const Runtime::Result&)>> asked;
    asked.swap(queue_);
    lock.unlock();
    Runtime::Result r = runtime_.reload();
    for (auto& done : asked) done(r);
    lock.lock();
  }
  for (auto& done : queue_) done({false, "the server is stopping"});
  queue_.clear();
}

}  // namespace gev::host
