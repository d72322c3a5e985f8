// kqueue(2) modelled on Linux's epoll, for tests only (see README.md). Strict where the
// BSDs are strict, because that is where a backend written against epoll's habits breaks:
//   - a knote that is deleted or disabled reports nothing, not even EOF or an error;
//   - with no room in the event list, change processing stops at the first failing change
//     (or the first EV_RECEIPT) and later changes are not applied;
//   - EV_ADD on an existing knote changes its udata and enables it, never its EV_CLEAR;
//   - kqueue() descriptors are not close-on-exec;
//   - closing a descriptor drops its knotes (checked by the file's identity).
// Level-triggered knotes are kept level-triggered by re-checking, with poll(2), each one
// reported by the previous call; the epoll registration itself is edge-triggered, which
// is what EV_CLEAR needs.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/event.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

namespace {

struct Knote {
  bool enabled = true;
  bool clear = false;
  void* udata = nullptr;
};

struct Watched {
  std::optional<Knote> read, write;
  bool registered = false;
  dev_t dev = 0;  // the open file the knotes are on: a close(2) drops them on the BSDs,
  ino_t ino = 0;  // so a descriptor number reused for another file starts afresh
};

struct Pending {
  int fd;
  short filter;
};

struct Kq {
  int ep = -1;
  std::mutex mu;
  std::unordered_map<int, Watched> fds;
  std::vector<Pending> recheck;  // knotes to report again if still ready
};

std::mutex g_mu;
std::unordered_map<int, std::shared_ptr<Kq>> g_kqs;  // by descriptor

std::shared_ptr<Kq> find(int kq) {
  std::lock_guard lock(g_mu);
  auto it = g_kqs.find(kq);
  return it == g_kqs.end() ? nullptr : it->second;
}

std::optional<Knote>& slot(Watched& w, short filter) {
  return filter == EVFILT_READ ? w.read : w.write;
}

// The epoll registration follows the enabled knotes; none enabled, none registered (so
// epoll's unconditional EPOLLERR/EPOLLHUP cannot leak out of a deleted or disabled knote).
int sync(Kq& kq, int fd, Watched& w) {
  uint32_t events = 0;
  if (w.read && w.read->enabled) events |= EPOLLIN | EPOLLRDHUP;
  if (w.write && w.write->enabled) events |= EPOLLOUT;
  epoll_event ev{};
  ev.data.fd = fd;
  if (events == 0) {
    if (w.registered) ::epoll_ctl(kq.ep, EPOLL_CTL_DEL, fd, &ev);
    w.registered = false;
    return 0;
  }
  ev.events = events | EPOLLET;
  int op = w.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  int rc = ::epoll_ctl(kq.ep, op, fd, &ev);
  if (rc < 0 && errno == ENOENT) rc = ::epoll_ctl(kq.ep, EPOLL_CTL_ADD, fd, &ev);  // fd reused
  if (rc < 0 && errno == EEXIST) rc = ::epoll_ctl(kq.ep, EPOLL_CTL_MOD, fd, &ev);
  if (rc < 0) return errno;
  w.registered = true;
  return 0;
}

void forget(Kq& kq, int fd, short filter) {
  std::erase_if(kq.recheck, [&](const Pending& p) { return p.fd == fd && p.filter == filter; });
}

// The knotes of fd, if it still names the file they were added on; else (closed, or
// reused for another file) they are gone, as close(2) would have dropped them.
Watched* lookup(Kq& kq, int fd) {
  auto it = kq.fds.find(fd);
  if (it == kq.fds.end()) return nullptr;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_dev == it->second.dev && st.st_ino == it->second.ino)
    return &it->second;
  forget(kq, fd, EVFILT_READ);
  forget(kq, fd, EVFILT_WRITE);
  kq.fds.erase(it);  // its epoll registration went with the close
  return nullptr;
}

int apply(Kq& kq, const struct kevent& change) {
  if (change.filter != EVFILT_READ && change.filter != EVFILT_WRITE) return EINVAL;
  int fd = static_cast<int>(change.ident);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return EBADF;
  Watched* found = lookup(kq, fd);
  if (change.flags & EV_DELETE) {
    if (!found || !slot(*found, change.filter)) return ENOENT;
    slot(*found, change.filter).reset();
    forget(kq, fd, change.filter);
    sync(kq, fd, *found);
    if (!found->read && !found->write) kq.fds.erase(fd);
    return 0;
  }
  if (!(change.flags & EV_ADD)) {
    if (!found || !slot(*found, change.filter)) return ENOENT;
    Knote& kn = *slot(*found, change.filter);
    if (change.flags & EV_ENABLE) kn.enabled = true;
    if (change.flags & EV_DISABLE) kn.enabled = false;
    if (!kn.enabled) forget(kq, fd, change.filter);
    return sync(kq, fd, *found);
  }
  Watched& w = kq.fds[fd];
  w.dev = st.st_dev;
  w.ino = st.st_ino;
  std::optional<Knote>& kn = slot(w, change.filter);
  bool created = !kn;
  if (created) {
    kn = Knote{};
    kn->clear = change.flags & EV_CLEAR;
  }
  kn->udata = change.udata;
  kn->enabled = !(change.flags & EV_DISABLE);
  if (!kn->enabled) forget(kq, fd, change.filter);
  int err = sync(kq, fd, w);
  if (err && created) {
    kn.reset();
    if (!w.read && !w.write) kq.fds.erase(fd);
  }
  return err;
}

// What a socket's pending error is, without reading SO_ERROR (which would clear it and
// change what the consumer's read() returns).
unsigned pending_error(int fd) {
  tcp_info info{};
  socklen_t len = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0 && info.tcpi_state == TCP_CLOSE)
    return ECONNRESET;
  return EPIPE;
}

// The event a knote reports for poll/epoll readiness `r`, if it is ready.
bool make_event(int fd, short filter, const Knote& kn, uint32_t r, struct kevent& out) {
  bool ready = filter == EVFILT_READ ? (r & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                                     : (r & (EPOLLOUT | EPOLLHUP | EPOLLERR));
  if (!ready) return false;
  unsigned short flags = 0;
  if (filter == EVFILT_READ ? (r & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) : (r & (EPOLLHUP | EPOLLERR)))
    flags |= EV_EOF;
  int avail = 0;
  if (filter == EVFILT_READ && ::ioctl(fd, FIONREAD, &avail) < 0) avail = 0;
  EV_SET(&out, static_cast<uintptr_t>(fd), filter, flags, (r & EPOLLERR) ? pending_error(fd) : 0,
         avail, kn.udata);
  return true;
}

class Output {
 public:
  Output(struct kevent* list, int cap) : list_(list), cap_(cap) {}
  bool full() const { return n_ == cap_; }
  int count() const { return n_; }
  bool has(int fd, short filter) const {
    for (int i = 0; i < n_; ++i)
      if (static_cast<int>(list_[i].ident) == fd && list_[i].filter == filter) return true;
    return false;
  }
  void push(const struct kevent& ev) { list_[n_++] = ev; }

 private:
  struct kevent* list_;
  int cap_;
  int n_ = 0;
};

// Reports (fd, filter) if its knote is enabled and ready; a level-triggered knote is
// re-checked at the next call. With no room left, it waits for the next call.
void report(Kq& kq, Output& out, int fd, short filter, uint32_t r, std::vector<Pending>& next) {
  Watched* w = lookup(kq, fd);
  if (!w) return;
  std::optional<Knote>& kn = slot(*w, filter);
  if (!kn || !kn->enabled || out.has(fd, filter)) return;
  struct kevent ev;
  if (!make_event(fd, filter, *kn, r, ev)) return;
  if (out.full()) {
    next.push_back({fd, filter});
    return;
  }
  out.push(ev);
  if (!kn->clear) next.push_back({fd, filter});
}

int to_ms(const struct timespec* t) {
  if (t == nullptr) return -1;
  return static_cast<int>(t->tv_sec * 1000 + (t->tv_nsec + 999999) / 1000000);
}

}  // namespace

extern "C" int kqueue(void) {
  int ep = ::epoll_create1(0);
  if (ep < 0) return -1;
  auto kq = std::make_shared<Kq>();
  kq->ep = ep;
  std::lock_guard lock(g_mu);
  g_kqs[ep] = std::move(kq);  // replaces the state of a closed kqueue with this number
  return ep;
}

extern "C" int kevent(int kqfd, const struct kevent* changes, int nchanges,
                      struct kevent* events, int nevents, const struct timespec* timeout) {
  std::shared_ptr<Kq> kq = find(kqfd);
  if (!kq) {
    errno = EBADF;
    return -1;
  }
  std::unique_lock lock(kq->mu);
  int room = nevents, nerrors = 0;
  for (int i = 0; i < nchanges; ++i) {
    int err = apply(*kq, changes[i]);
    if (err == 0 && !(changes[i].flags & EV_RECEIPT)) continue;
    if (room == 0) {  // FreeBSD's kern_kevent_generic: `if (nevents == 0) return (error);`
      if (err == 0) return 0;
      errno = err;
      return -1;
    }
    struct kevent& r = events[nerrors++];
    r = changes[i];
    r.flags = EV_ERROR;
    r.data = err;
    --room;
  }
  if (nerrors > 0) return nerrors;
  if (nevents == 0) return 0;

  Output out(events, nevents);
  std::vector<Pending> next;
  std::vector<Pending> recheck;
  recheck.swap(kq->recheck);
  for (const Pending& p : recheck) {
    pollfd pfd{p.fd, static_cast<short>(p.filter == EVFILT_READ ? (POLLIN | POLLRDHUP) : POLLOUT), 0};
    if (::poll(&pfd, 1, 0) == 1 && !(pfd.revents & POLLNVAL))
      report(*kq, out, p.fd, p.filter, static_cast<uint32_t>(pfd.revents), next);
  }
  if (!out.full()) {
    std::vector<epoll_event> ready(static_cast<size_t>(nevents));
    int wait_ms = out.count() > 0 ? 0 : to_ms(timeout);
    if (wait_ms != 0) lock.unlock();
    int n = ::epoll_wait(kq->ep, ready.data(), nevents, wait_ms);
    int saved = errno;
    if (wait_ms != 0) lock.lock();
    if (n < 0 && out.count() == 0) {
      kq->recheck = std::move(next);
      errno = saved;
      return -1;
    }
    for (int i = 0; i < n; ++i) {
      report(*kq, out, ready[i].data.fd, EVFILT_READ, ready[i].events, next);
      report(*kq, out, ready[i].data.fd, EVFILT_WRITE, ready[i].events, next);
    }
  }
  kq->recheck = std::move(next);
  return out.count();
}
