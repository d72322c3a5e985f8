// Wakeup: lets any thread interrupt a loop's poller wait (eventfd on Linux, a pipe
// elsewhere; CMake picks the file).
#pragma once

#include <cstdint>

#include "gev/event_loop.h"

namespace gev::detail {

class Wakeup final : public IoHandler {
 public:
  Wakeup();
  ~Wakeup();
  Wakeup(const Wakeup&) = delete;
  Wakeup& operator=(const Wakeup&) = delete;

  int fd() const { return read_fd_; }
  void notify();                      // any thread
  void handle_io(uint32_t) override;  // loop thread: drains the counter

 private:
  int read_fd_;
  int write_fd_;
};

}  // namespace gev::detail
