// KqueuePoller: the BSD/macOS backend, written to the FreeBSD and macOS kqueue(2) man
// pages. UNTESTED: this project builds and tests on Linux only, where this file cannot
// be compiled; CMake selects it only where <sys/event.h> exists.
#include <sys/event.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <vector>

#include "poller.h"

namespace gev::detail {

namespace {

class KqueuePoller final : public Poller {
 public:
  KqueuePoller() : kq_(::kqueue()) {
    if (kq_ < 0) throw std::system_error(errno, std::generic_category(), "kqueue");
    events_.resize(256);
  }
  ~KqueuePoller() override { ::close(kq_); }

  void add(int fd, uint32_t mask) override { modify(fd, kNone, mask); }

  // kqueue keeps one filter per direction, so a change of interest is a set of
  // EV_ADD/EV_DELETE changes for the filters that differ.
  void modify(int fd, uint32_t old_mask, uint32_t new_mask) override {
    struct kevent changes[2];
    int n = 0;
    auto set = [&](uint32_t bit, int16_t filter) {
      if ((old_mask & bit) == (new_mask & bit)) return;
      uint16_t flags = (new_mask & bit) ? EV_ADD : EV_DELETE;
      EV_SET(&changes[n++], fd, filter, flags, 0, 0, nullptr);
    };
    set(kReadable, EVFILT_READ);
    set(kWritable, EVFILT_WRITE);
    if (n > 0 && ::kevent(kq_, changes, n, nullptr, 0, nullptr) < 0 && errno != ENOENT)
      throw std::system_error(errno, std::generic_category(), "kevent");
  }

  void remove(int fd, uint32_t old_mask) override { modify(fd, old_mask, kNone); }

  int wait(std::span<PollEvent> out, int timeout_ms) override {
    if (events_.size() < out.size()) events_.resize(out.size());
    timespec ts{timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};
    int n = ::kevent(kq_, nullptr, 0, events_.data(), static_cast<int>(out.size()),
                     timeout_ms < 0 ? nullptr : &ts);
    if (n < 0) {
      if (errno == EINTR) return 0;
      throw std::system_error(errno, std::generic_category(), "kevent");
    }
    // kqueue reports each filter separately: one fd may appear twice in a round. The
    // loop handles that (a second event for the same fd is a harmless re-check).
    for (int i = 0; i < n; ++i) {
      const struct kevent& ev = events_[i];
      uint32_t mask = ev.filter == EVFILT_READ ? kReadable : kWritable;
      if (ev.flags & (EV_EOF | EV_ERROR)) mask |= kReadable | kWritable;
      out[i] = {static_cast<int>(ev.ident), mask};
    }
    return n;
  }

 private:
  int kq_;
  std::vector<struct kevent> events_;
};

}  // namespace

std::unique_ptr<Poller> make_poller() {
  return std::make_unique<KqueuePoller>();
}

}  // namespace gev::detail
