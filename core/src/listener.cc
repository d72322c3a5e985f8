// Listener implementation.
#include "listener.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "gev/log.h"
#include "poller.h"

namespace gev::detail {

namespace {
constexpr int kAcceptBatch = 64;  // per readiness report, so one busy listener cannot starve I/O

int open_spare() {
  return ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}

// Linux and FreeBSD set non-blocking and close-on-exec as the socket is made; macOS has
// neither SOCK_NONBLOCK nor accept4(), so it sets them just after (GEV_MACOS_SOCKETS
// compiles that path elsewhere, for the tests). An fd there is briefly inheritable by an
// exec racing in another thread; gev-host does not exec.
#if defined(SOCK_NONBLOCK) && defined(SOCK_CLOEXEC) && !defined(GEV_MACOS_SOCKETS)
constexpr bool kAtomicFlags = true;
#else
constexpr bool kAtomicFlags = false;
#endif

// fd (from socket or accept) made close-on-exec, and non-blocking if asked; -1, with
// fd closed and errno kept, if fd was -1 or fcntl failed.
int with_flags(int fd, bool nonblock) {
  if (fd < 0) return -1;
  int fl = ::fcntl(fd, F_GETFL);
  if ((!nonblock || (fl >= 0 && ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0)) &&
      ::fcntl(fd, F_SETFD, FD_CLOEXEC) == 0)
    return fd;
  int err = errno;
  ::close(fd);
  errno = err;
  return -1;
}

}  // namespace

int stream_socket(int family) {
  if constexpr (kAtomicFlags) {
#if defined(SOCK_NONBLOCK) && defined(SOCK_CLOEXEC)
    return ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
#endif
  }
  return with_flags(::socket(family, SOCK_STREAM, 0), true);
}

namespace {
int accept_socket(int listen_fd, sockaddr* addr, socklen_t* len, bool nonblock) {
  if constexpr (kAtomicFlags) {
#if defined(SOCK_NONBLOCK) && defined(SOCK_CLOEXEC)
    return ::accept4(listen_fd, addr, len, SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0));
#endif
  }
  return with_flags(::accept(listen_fd, addr, len), nonblock);
}
}  // namespace

ReusePortOption reuseport_option() {
#if defined(SO_REUSEPORT_LB)
  return {SO_REUSEPORT_LB, "SO_REUSEPORT_LB", true};  // FreeBSD 12+: balances by hash
#elif defined(__APPLE__) || defined(GEV_MACOS_SOCKETS)
  return {SO_REUSEPORT, "SO_REUSEPORT", false};  // binds several, but one takes all
#elif defined(__FreeBSD__)
  return {SO_REUSEPORT, "SO_REUSEPORT", false};  // before 12: the last socket bound takes all
#else
  return {SO_REUSEPORT, "SO_REUSEPORT", true};  // Linux 3.9+: balances by hash
#endif
}

int open_listen_socket(const SocketAddress& addr, bool reuse_port, int backlog) {
  int fd = stream_socket(addr.family());
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ReusePortOption rp = reuseport_option();
  if (reuse_port && ::setsockopt(fd, SOL_SOCKET, rp.name, &one, sizeof one) < 0) {
    int err = errno;
    ::close(fd);
    throw std::system_error(err, std::generic_category(), rp.label);
  }
  if (::bind(fd, addr.get(), addr.size()) < 0 || ::listen(fd, backlog) < 0) {
    int err = errno;
    ::close(fd);
    throw std::system_error(err, std::generic_category(), "listen on " + addr.to_string());
  }
  return fd;
}

void adopt_listen_socket(int fd) {
  int type = 0, listening = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
    throw std::invalid_argument("fd " + std::to_string(fd) + " is not a socket");
  len = sizeof listening;
  if (type != SOCK_STREAM || ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 ||
      !listening)
    throw std::invalid_argument("fd " + std::to_string(fd) + " is not a listening TCP socket");
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
      ::fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
    throw std::system_error(errno, std::generic_category(), "fcntl on an adopted socket");
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // inherited by accepted
}

Listener::Listener(EventLoop& loop, int listen_fd, LoopCounters& counters, AcceptFn on_accept)
    : loop_(loop),
      fd_(listen_fd),
      spare_fd_(open_spare()),
      counters_(counters),
      on_accept_(std::move(on_accept)) {}

Listener::~Listener() {
  if (fd_ >= 0) ::close(fd_);
  if (spare_fd_ >= 0) ::close(spare_fd_);
}

void Listener::start() {
  if (fd_ < 0) return;  // stopped before it started
  loop_.add_io(fd_, kReadable, this);
  watching_ = true;
}

void Listener::stop() {
  if (fd_ < 0) return;
  loop_.remove_io(fd_, watching_ ? kReadable : kNone);
  watching_ = false;
  ::close(fd_);
  fd_ = -1;
}

void Listener::handle_io(uint32_t) {
  for (int i = 0; i < kAcceptBatch && fd_ >= 0; ++i) {
    sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd = accept_socket(fd_, reinterpret_cast<sockaddr*>(&ss), &len, true);
    if (fd >= 0) {
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      on_accept_(fd, SocketAddress::from(reinterpret_cast<sockaddr*>(&ss), len));
      continue;
    }
    int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK) return;
    if (err == EINTR || err == ECONNABORTED || err == EPROTO || err == EPERM) continue;
    counters_.accept_errors.add(1);
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
      on_fd_exhausted(err);
      if (!watching_) return;
      continue;
    }
    GEV_ERROR("accept: %s", std::strerror(err));
    return;
  }
}

void Listener::on_fd_exhausted(int err) {
  if (loop_.now_ns() - last_warning_ns_ > 1000000000) {  // at most one line a second
    GEV_WARN("accept: %s; refusing connections until descriptors free up", std::strerror(err));
    last_warning_ns_ = loop_.now_ns();
  }
  // Free the spare, take the waiting connection and close it: the peer sees a clean
  // close instead of waiting in the backlog, and level-triggered readiness clears.
  if (spare_fd_ >= 0) {
    ::close(spare_fd_);
    int fd = accept_socket(fd_, nullptr, nullptr, false);
    if (fd >= 0) ::close(fd);
    spare_fd_ = open_spare();
    if (fd >= 0) return;
  } else {
    spare_fd_ = open_spare();
  }
  // Could not even do that: stop watching for a while rather than spin.
  loop_.update_io(fd_, kReadable, kNone);
  watching_ = false;
  loop_.run_after(std::chrono::milliseconds(100), [this] {
    if (fd_ >= 0 && !watching_) {
      loop_.update_io(fd_, kNone, kReadable);
      watching_ = true;
    }
  });
}

}  // namespace gev::detail
