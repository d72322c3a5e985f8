// Poller: the readiness interface every backend implements (epoll on Linux, kqueue on
// BSD/macOS). CMake compiles exactly one backend; the loop never sees which.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

namespace gev::detail {

// Neutral readiness mask. Backends report error and hang-up as kReadable|kWritable so
// the read path sees them (read returns 0 or the error).
enum : uint32_t { kNone = 0, kReadable = 1u << 0, kWritable = 1u << 1 };

struct PollEvent {
  int fd;
  uint32_t mask;
};

// Owned by one EventLoop and called only on its thread.
class Poller {
 public:
  virtual ~Poller() = default;
  // Level-triggered interest in `mask` (kReadable/kWritable) for fd. add() of an fd
  // already present, or modify()/remove() of one absent, is a programming error.
  virtual void add(int fd, uint32_t mask) = 0;
  virtual void modify(int fd, uint32_t old_mask, uint32_t new_mask) = 0;
  virtual void remove(int fd, uint32_t old_mask) = 0;
  // Waits up to timeout_ms (-1: forever) and fills `out`; returns the count (0 on timeout
  // or EINTR).
  virtual int wait(std::span<PollEvent> out, int timeout_ms) = 0;
};

std::unique_ptr<Poller> make_poller();

}  // namespace gev::detail
