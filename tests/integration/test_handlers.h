// Handlers shared by the integration tests: echo with bookkeeping of every callback.
#pragma once

#include <gev/server.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>

namespace gev::test {

// Echoes every frame and records connects, closes (with reasons) and live connections.
class RecordingEcho : public Handler {
 public:
  void on_connect(Connection& c) override {
    std::lock_guard lock(mu_);
    connects_++;
    live_[c.id()] = c.shared_from_this();
  }
  std::span<const uint8_t> on_message(Connection&, const Frame& f) override {
    messages_.fetch_add(1);
    return f.data;
  }
  void on_close(Connection& c) override {
    std::lock_guard lock(mu_);
    if (live_.erase(c.id()) == 0) double_closes_++;  // never connected, or closed twice
    closes_++;
    reasons_[c.close_reason()]++;
  }

  int connects() {
    std::lock_guard lock(mu_);
    return connects_;
  }
  int closes() {
    std::lock_guard lock(mu_);
    return closes_;
  }
  int double_closes() {
    std::lock_guard lock(mu_);
    return double_closes_;
  }
  int closed_for(CloseReason r) {
    std::lock_guard lock(mu_);
    return reasons_[r];
  }
  size_t live() {
    std::lock_guard lock(mu_);
    return live_.size();
  }
  std::shared_ptr<Connection> any_live() {
    std::lock_guard lock(mu_);
    return live_.empty() ? nullptr : live_.begin()->second;
  }
  std::atomic<int> messages_{0};

 protected:
  std::mutex mu_;
  int connects_ = 0;
  int closes_ = 0;
  int double_closes_ = 0;
  std::map<CloseReason, int> reasons_;
  std::map<uint64_t, std::shared_ptr<Connection>> live_;
};

inline Options test_options(size_t loops = 2) {
  Options o;
  o.address = "127.0.0.1:0";
  o.loops = loops;
  o.handle_signals = false;
  o.stop_timeout = std::chrono::milliseconds(2000);
  return o;
}

}  // namespace gev::test
