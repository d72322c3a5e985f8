// SignalWatcher: turns SIGINT/SIGTERM (and SIGHUP when asked) into a callback on a loop
// (self-pipe; portable).
// One per process at a time; the previous handlers come back when it is destroyed.
#pragma once

#include <csignal>
#include <functional>

#include "gev/event_loop.h"

namespace gev::detail {

class SignalWatcher final : public IoHandler {
 public:
  SignalWatcher(EventLoop& loop, std::function<void(int signo)> on_signal, bool hangup = false);
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;
  void handle_io(uint32_t mask) override;

 private:
  EventLoop& loop_;
  int fds_[2];
  std::function<void(int)> on_signal_;
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
  struct sigaction old_hup_ {};
  bool hangup_;
};

}  // namespace gev::detail
