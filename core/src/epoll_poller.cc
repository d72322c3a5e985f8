// EpollPoller: the Linux backend, level-triggered epoll, with a timerfd for the loop's
// next deadline.
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <vector>

#include "poller.h"

namespace gev::detail {

namespace {

uint32_t to_epoll(uint32_t mask) {
  return ((mask & kReadable) ? uint32_t{EPOLLIN} : 0u) |
         ((mask & kWritable) ? uint32_t{EPOLLOUT} : 0u);
}

class EpollPoller final : public Poller {
 public:
  EpollPoller() : epfd_(::epoll_create1(EPOLL_CLOEXEC)) {
    if (epfd_ < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
    events_.resize(256);
    tfd_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = tfd_;
    if (tfd_ < 0 || ::epoll_ctl(epfd_, EPOLL_CTL_ADD, tfd_, &ev) < 0) {
      int e = errno;
      if (tfd_ >= 0) ::close(tfd_);
      ::close(epfd_);  // the destructor does not run for a constructor that throws
      throw std::system_error(e, std::generic_category(), "timerfd for epoll");
    }
  }
  ~EpollPoller() override {
    ::close(tfd_);
    ::close(epfd_);
  }

  void add(int fd, uint32_t mask) override { ctl(EPOLL_CTL_ADD, fd, mask); }
  void modify(int fd, uint32_t, uint32_t new_mask) override { ctl(EPOLL_CTL_MOD, fd, new_mask); }
  void remove(int fd, uint32_t) override {
    epoll_event ev{};
    ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, &ev);
  }

  // The timerfd is re-armed only when nothing is armed or the deadline moved earlier: a
  // deadline that moved later (its timer cancelled) lets the armed one fire early, and
  // the poller sleeps on. A periodic timer so costs one timerfd_settime and one read per
  // period, however often the loop sleeps in between.
  int wait_until(std::span<PollEvent> out, int64_t deadline_ns) override {
    for (;;) {
      if (deadline_ns != kForever) {
        if (deadline_ns <= now_ns()) return wait(out, 0);
        if (armed_ == kForever || deadline_ns < armed_) arm(deadline_ns);
      }
      int n = wait(out, -1);
      if (n != 0 || !timer_fired_) return n;  // events, or EINTR
      if (deadline_ns != kForever && now_ns() >= deadline_ns) return 0;
    }
  }

  int wait(std::span<PollEvent> out, int timeout_ms) override {
    if (events_.size() < out.size()) events_.resize(out.size());
    timer_fired_ = false;  // before any return: an EINTR must not look like an early expiry
    int n = ::epoll_wait(epfd_, events_.data(), static_cast<int>(out.size()), timeout_ms);
    if (n < 0) {
      if (errno == EINTR) return 0;
      throw std::system_error(errno, std::generic_category(), "epoll_wait");
    }
    int k = 0;
    for (int i = 0; i < n; ++i) {
      if (events_[i].data.fd == tfd_) {
        uint64_t expirations;
        (void)!::read(tfd_, &expirations, sizeof expirations);  // clears its readiness
        armed_ = kForever;
        timer_fired_ = true;
        continue;
      }
      uint32_t e = events_[i].events;
      uint32_t mask = 0;
      if (e & (EPOLLIN | EPOLLPRI)) mask |= kReadable;
      if (e & EPOLLOUT) mask |= kWritable;
      if (e & (EPOLLERR | EPOLLHUP)) mask |= kReadable | kWritable | kHangup;
      out[k++] = {events_[i].data.fd, mask};
    }
    return k;
  }

  int native_handle() const override { return epfd_; }

 private:
  void ctl(int op, int fd, uint32_t mask) {
    epoll_event ev{};
    ev.events = to_epoll(mask);
    ev.data.fd = fd;
    if (::epoll_ctl(epfd_, op, fd, &ev) < 0)
      throw std::system_error(errno, std::generic_category(), "epoll_ctl");
  }

  void arm(int64_t deadline_ns) {
    itimerspec when{};
    when.it_value.tv_sec = static_cast<time_t>(deadline_ns / 1000000000);
    when.it_value.tv_nsec = static_cast<long>(deadline_ns % 1000000000);
    if (::timerfd_settime(tfd_, TFD_TIMER_ABSTIME, &when, nullptr) < 0)
      throw std::system_error(errno, std::generic_category(), "timerfd_settime");
    armed_ = deadline_ns;
  }

  int epfd_;
  int tfd_ = -1;
  int64_t armed_ = kForever;  // the timerfd's pending expiry, if any
  bool timer_fired_ = false;  // the last wait() consumed the timerfd's expiry
  std::vector<epoll_event> events_;
};

}  // namespace

std::unique_ptr<Poller> make_poller() {
  return std::make_unique<EpollPoller>();
}

}  // namespace gev::detail
