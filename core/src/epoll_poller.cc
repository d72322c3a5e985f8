// EpollPoller: the Linux backend, level-triggered epoll.
#include <sys/epoll.h>
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
  }
  ~EpollPoller() override { ::close(epfd_); }

  void add(int fd, uint32_t mask) override { ctl(EPOLL_CTL_ADD, fd, mask); }
  void modify(int fd, uint32_t, uint32_t new_mask) override { ctl(EPOLL_CTL_MOD, fd, new_mask); }
  void remove(int fd, uint32_t) override {
    epoll_event ev{};
    ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, &ev);
  }

  int wait(std::span<PollEvent> out, int timeout_ms) override {
    if (events_.size() < out.size()) events_.resize(out.size());
    int n = ::epoll_wait(epfd_, events_.data(), static_cast<int>(out.size()), timeout_ms);
    if (n < 0) {
      if (errno == EINTR) return 0;
      throw std::system_error(errno, std::generic_category(), "epoll_wait");
    }
    for (int i = 0; i < n; ++i) {
      uint32_t e = events_[i].events;
      uint32_t mask = 0;
      if (e & (EPOLLIN | EPOLLPRI)) mask |= kReadable;
      if (e & EPOLLOUT) mask |= kWritable;
      if (e & (EPOLLERR | EPOLLHUP)) mask |= kReadable | kWritable | kHangup;
      out[i] = {events_[i].data.fd, mask};
    }
    return n;
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

  int epfd_;
  std::vector<epoll_event> events_;
};

}  // namespace

std::unique_ptr<Poller> make_poller() {
  return std::make_unique<EpollPoller>();
}

}  // namespace gev::detail
