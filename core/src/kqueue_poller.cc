// KqueuePoller: the BSD/macOS backend, written to the FreeBSD and macOS kqueue(2) man
// pages. On Linux CI it is compiled and tested against tests/kqueue_model, a model of
// kqueue with the BSDs' strict semantics; it has not run on a BSD kernel here.
//
// kqueue keeps one knote per (fd, filter). Two habits of epoll do not carry over:
//   - A deleted or disabled knote reports nothing, not even EOF, so an fd whose interest
//     mask is empty (a paused connection) would never learn of a reset. The read knote
//     therefore stays registered for as long as the fd is: level-triggered while the loop
//     wants to read, otherwise EV_CLEAR with a "watch" udata, whose events are dropped
//     here unless they carry EOF with an error (what poller.h asks of an empty mask).
//   - Without an event list, kevent() stops at the first failing change and drops the
//     rest. Every change is sent with EV_RECEIPT and its result is checked.
#include <fcntl.h>
#include <sys/event.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <vector>

#include "poller.h"

namespace gev::detail {

namespace {

// udata of a read knote kept only to see errors and hang-ups.
void* const kWatch = const_cast<char*>("watch");

class KqueuePoller final : public Poller {
 public:
  KqueuePoller() : kq_(::kqueue()) {
    if (kq_ < 0) throw std::system_error(errno, std::generic_category(), "kqueue");
    // kqueue() has no close-on-exec flag (FreeBSD 13's kqueuex() does; macOS has none).
    ::fcntl(kq_, F_SETFD, FD_CLOEXEC);
    events_.resize(256);
  }
  ~KqueuePoller() override { ::close(kq_); }

  void add(int fd, uint32_t mask) override {
    Changes c;
    c.read(fd, mask);
    if (mask & kWritable) c.add(fd, EVFILT_WRITE, EV_ADD, nullptr);
    submit(c);
  }

  void modify(int fd, uint32_t old_mask, uint32_t new_mask) override {
    Changes c;
    if ((old_mask & kReadable) != (new_mask & kReadable)) {
      // EV_ADD on an existing knote does not change its EV_CLEAR: replace the knote.
      c.add(fd, EVFILT_READ, EV_DELETE, nullptr);
      c.read(fd, new_mask);
    }
    if ((old_mask & kWritable) != (new_mask & kWritable))
      c.add(fd, EVFILT_WRITE, (new_mask & kWritable) ? EV_ADD : EV_DELETE, nullptr);
    submit(c);
  }

  void remove(int fd, uint32_t old_mask) override {
    Changes c;
    c.add(fd, EVFILT_READ, EV_DELETE, nullptr);
    if (old_mask & kWritable) c.add(fd, EVFILT_WRITE, EV_DELETE, nullptr);
    submit(c);
  }

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
    int count = 0;
    for (int i = 0; i < n; ++i) {
      const struct kevent& ev = events_[i];
      bool failed = (ev.flags & EV_ERROR) || ((ev.flags & EV_EOF) && ev.fflags != 0);
      uint32_t mask;
      if (ev.udata == kWatch) {
        if (!failed) continue;  // readable or a clean EOF: the loop reads when it wants to
        mask = kReadable | kWritable | kHangup;
      } else {
        mask = ev.filter == EVFILT_READ ? kReadable : kWritable;
        if (ev.flags & (EV_EOF | EV_ERROR)) mask |= kReadable | kWritable | kHangup;
      }
      out[count++] = {static_cast<int>(ev.ident), mask};
    }
    return count;
  }

  int native_handle() const override { return kq_; }

 private:
  struct Changes {
    struct kevent list[3];
    int n = 0;
    void add(int fd, int16_t filter, uint16_t flags, void* udata) {
      EV_SET(&list[n++], fd, filter, flags | EV_RECEIPT, 0, 0, udata);
    }
    // The read knote: level-triggered with read interest, else an EV_CLEAR watch.
    void read(int fd, uint32_t mask) {
      if (mask & kReadable)
        add(fd, EVFILT_READ, EV_ADD, nullptr);
      else
        add(fd, EVFILT_READ, EV_ADD | EV_CLEAR, kWatch);
    }
  };

  // One result per change (EV_RECEIPT, with room for all of them); a delete of a knote
  // already gone is fine, any other failure is not.
  void submit(Changes& c) {
    struct kevent results[3];
    timespec zero{0, 0};
    int n = ::kevent(kq_, c.list, c.n, results, c.n, &zero);
    if (n < 0) throw std::system_error(errno, std::generic_category(), "kevent");
    for (int i = 0; i < n; ++i) {
      int err = static_cast<int>(results[i].data);
      if (!(results[i].flags & EV_ERROR) || err == 0) continue;
      if (err == ENOENT && (c.list[i].flags & EV_DELETE)) continue;
      throw std::system_error(err, std::generic_category(), "kevent change");
    }
  }

  int kq_;
  std::vector<struct kevent> events_;
};

}  // namespace

std::unique_ptr<Poller> make_poller() {
  return std::make_unique<KqueuePoller>();
}

}  // namespace gev::detail
