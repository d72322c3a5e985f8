// Poller: the readiness interface every backend implements (epoll on Linux, kqueue on
// BSD/macOS). CMake compiles exactly one backend; the loop never sees which.
#pragma once

#include <algorithm>
#include <cstdint>
#include <ctime>
#include <memory>
#include <span>

namespace gev::detail {

// Neutral readiness mask. Backends report error and hang-up as kReadable|kWritable|kHangup
// so the read path sees them (read returns 0 or the error); kHangup alone tells them
// from plain readiness.
//
// An fd stays registered, and watched for errors, whatever its mask. With kReadable
// absent (an empty mask, or kWritable alone: a connection paused by its handler or by
// backpressure) a backend must still report an error on the fd, a peer's reset above
// all, as kReadable|kWritable|kHangup, so that a paused connection learns its peer is gone; it
// may report a hang-up the same way (epoll reports EPOLLHUP); it must not report plain
// readability or a clean end of input, which wait until kReadable returns. Such a report
// may come only once (kqueue's comes on the change), so its reader reads until the error
// or end of input (Connection::handle_read does). epoll does
// this by itself; kqueue, whose deleted knotes report nothing, keeps a read knote
// (kqueue_poller.cc).
enum : uint32_t { kNone = 0, kReadable = 1u << 0, kWritable = 1u << 1, kHangup = 1u << 2 };

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
  // or EINTR, and with epoll also when the timer wait_until armed expires meanwhile).
  virtual int wait(std::span<PollEvent> out, int timeout_ms) = 0;
  // Waits until deadline_ns on CLOCK_MONOTONIC (kForever: no deadline) or an event. This
  // default turns the deadline into wait()'s timeout, rounded up to a millisecond so the
  // loop does not wake a hair early and spin. epoll overrides it with a timerfd that stays
  // armed across sleeps: a timeout passed to epoll_wait arms and cancels a kernel timer
  // on every sleep, and the loop sleeps about once per message at moderate rates.
  static constexpr int64_t kForever = -1;
  virtual int wait_until(std::span<PollEvent> out, int64_t deadline_ns) {
    if (deadline_ns == kForever) return wait(out, -1);
    int64_t delta = deadline_ns - now_ns();
    if (delta <= 0) return wait(out, 0);
    return wait(out, static_cast<int>(std::min<int64_t>((delta + 999999) / 1000000, 3600000)));
  }
  // The epoll or kqueue descriptor (tests reach behind the poller with it).
  virtual int native_handle() const = 0;

  static int64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
  }
};

std::unique_ptr<Poller> make_poller();

}  // namespace gev::detail
