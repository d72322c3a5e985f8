// ReloadThread: runs gev-host's reloads on a thread of its own (a reload waits for the
// loops, so it cannot run on one), one after the other, and reports each to whoever
// asked.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "runtime.h"

namespace gev::host {

class ReloadThread {
 public:
  explicit ReloadThread(Runtime& runtime);
  ~ReloadThread();  // waits for the reload in progress; queued ones are refused
  ReloadThread(const ReloadThread&) = delete;
  ReloadThread& operator=(const ReloadThread&) = delete;

  // Any thread. `done` runs on the reload thread (or at once, refused, after shutdown).
  void request(std::function<void(const Runtime::Result&)> done);
  // Finishes the reload in progress, refuses the queued ones and joins the thread.
  void shutdown();

 private:
  void run();

  Runtime& runtime_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void(const Runtime::Result&)>> queue_;
  bool quit_ = false;
  std::thread thread_;
};

}  // namespace gev::host
