// The kqueue model's strict semantics, and the kqueue poller relying on none of the
// habits they break. Linked into gev-core-tests-kqueue only.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/event.h>
#include <unistd.h>

#include <cerrno>

#include "poller.h"

using gev::detail::kReadable;
using gev::detail::kWritable;

namespace {

struct Pipe {
  int r, w;
  Pipe() {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    r = fds[0];
    w = fds[1];
  }
  ~Pipe() {
    ::close(r);
    ::close(w);
  }
};

int poll_kq(int kq, struct kevent* out, int n, int ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1000000L};
  return ::kevent(kq, nullptr, 0, out, n, &ts);
}

}  // namespace

TEST_CASE("kqueue model: without an event list a failing change stops the ones after it") {
  int kq = ::kqueue();
  REQUIRE(kq >= 0);
  CHECK((::fcntl(kq, F_GETFD) & FD_CLOEXEC) == 0);  // as on the BSDs: kqueue() sets none
  Pipe p;
  struct kevent ch[2];
  EV_SET(&ch[0], p.r, EVFILT_READ, EV_DELETE, 0, 0, nullptr);  // not there: ENOENT
  EV_SET(&ch[1], p.w, EVFILT_WRITE, EV_ADD, 0, 0, nullptr);
  errno = 0;
  CHECK(::kevent(kq, ch, 2, nullptr, 0, nullptr) == -1);
  CHECK(errno == ENOENT);
  struct kevent ev[4];
  CHECK(poll_kq(kq, ev, 4, 50) == 0);  // the write knote was never added

  // With EV_RECEIPT and room, every change is applied and answered.
  EV_SET(&ch[0], p.r, EVFILT_READ, EV_DELETE | EV_RECEIPT, 0, 0, nullptr);
  EV_SET(&ch[1], p.w, EVFILT_WRITE, EV_ADD | EV_RECEIPT, 0, 0, nullptr);
  REQUIRE(::kevent(kq, ch, 2, ev, 2, nullptr) == 2);
  CHECK((ev[0].flags & EV_ERROR) != 0);
  CHECK(ev[0].data == ENOENT);
  CHECK((ev[1].flags & EV_ERROR) != 0);
  CHECK(ev[1].data == 0);
  REQUIRE(poll_kq(kq, ev, 4, 1000) == 1);
  CHECK(ev[0].filter == EVFILT_WRITE);
  ::close(kq);
}

TEST_CASE("kqueue model: a disabled knote reports nothing, even end of input") {
  int kq = ::kqueue();
  Pipe p;
  struct kevent ch;
  EV_SET(&ch, p.r, EVFILT_READ, EV_ADD | EV_DISABLE, 0, 0, nullptr);
  REQUIRE(::kevent(kq, &ch, 1, nullptr, 0, nullptr) == 0);
  ::close(p.w);
  p.w = ::open("/dev/null", O_WRONLY);
  struct kevent ev[2];
  CHECK(poll_kq(kq, ev, 2, 100) == 0);
  EV_SET(&ch, p.r, EVFILT_READ, EV_ENABLE, 0, 0, nullptr);
  REQUIRE(::kevent(kq, &ch, 1, nullptr, 0, nullptr) == 0);
  REQUIRE(poll_kq(kq, ev, 2, 1000) == 1);
  CHECK((ev[0].flags & EV_EOF) != 0);
  CHECK(poll_kq(kq, ev, 2, 50) == 1);  // level-triggered: still there
  ::close(kq);
}

TEST_CASE("kqueue model: EV_CLEAR reports a change once") {
  int kq = ::kqueue();
  Pipe p;
  struct kevent ch;
  EV_SET(&ch, p.r, EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, nullptr);
  REQUIRE(::kevent(kq, &ch, 1, nullptr, 0, nullptr) == 0);
  REQUIRE(::write(p.w, "a", 1) == 1);
  struct kevent ev[2];
  CHECK(poll_kq(kq, ev, 2, 1000) == 1);
  CHECK(poll_kq(kq, ev, 2, 50) == 0);
  REQUIRE(::write(p.w, "b", 1) == 1);
  CHECK(poll_kq(kq, ev, 2, 1000) == 1);
  ::close(kq);
}

TEST_CASE("kqueue poller: its descriptor is close-on-exec") {
  auto poller = gev::detail::make_poller();
  CHECK((::fcntl(poller->native_handle(), F_GETFD) & FD_CLOEXEC) != 0);
}

TEST_CASE("kqueue poller: a change after one that fails still takes effect") {
  auto poller = gev::detail::make_poller();
  Pipe p;
  poller->add(p.w, kReadable);
  // The read knote goes behind the poller's back (as a close elsewhere would drop it).
  struct kevent ch;
  EV_SET(&ch, p.w, EVFILT_READ, EV_DELETE, 0, 0, nullptr);
  REQUIRE(::kevent(poller->native_handle(), &ch, 1, nullptr, 0, nullptr) == 0);
  // Read off, write on: the delete of the read knote fails (ENOENT) and is tolerated; the
  // write knote must be added all the same.
  CHECK_NOTHROW(poller->modify(p.w, kReadable, kWritable));
  gev::detail::PollEvent events[4];
  int n = poller->wait(events, 1000);
  REQUIRE(n == 1);
  CHECK(events[0].fd == p.w);
  CHECK(events[0].mask == kWritable);
  poller->remove(p.w, kWritable);
}

TEST_CASE("kqueue poller: a change that fails for another reason is an error") {
  auto poller = gev::detail::make_poller();
  CHECK_THROWS_AS(poller->add(12345, kReadable), std::system_error);  // not open: EBADF
}
