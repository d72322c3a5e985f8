// SignalWatcher implementation: the handler only writes the signal number to a pipe.
#include "signal_watcher.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <system_error>

#include "poller.h"

namespace gev::detail {

namespace {
std::atomic<int> g_write_fd{-1};

void on_signal(int signo) {
  int saved = errno;
  unsigned char b = static_cast<unsigned char>(signo);
  int fd = g_write_fd.load();
  if (fd >= 0) {
    ssize_t n = ::write(fd, &b, 1);
    (void)n;
  }
  errno = saved;
}
}  // namespace

SignalWatcher::SignalWatcher(EventLoop& loop, std::function<void(int)> cb, bool hangup)
    : loop_(loop), on_signal_(std::move(cb)), hangup_(hangup) {
  if (::pipe(fds_) < 0) throw std::system_error(errno, std::generic_category(), "pipe");
  for (int fd : fds_) {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  g_write_fd.store(fds_[1]);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &sa, &old_int_);
  ::sigaction(SIGTERM, &sa, &old_term_);
  if (hangup_) ::sigaction(SIGHUP, &sa, &old_hup_);
  loop_.add_io(fds_[0], kReadable, this);
}

SignalWatcher::~SignalWatcher() {
  ::sigaction(SIGINT, &old_int_, nullptr);
  ::sigaction(SIGTERM, &old_term_, nullptr);
  if (hangup_) ::sigaction(SIGHUP, &old_hup_, nullptr);
  g_write_fd.store(-1);
  loop_.remove_io(fds_[0], kReadable);
  ::close(fds_[0]);
  ::close(fds_[1]);
}

void SignalWatcher::handle_io(uint32_t) {
  unsigned char buf[16];
  ssize_t n;
  while ((n = ::read(fds_[0], buf, sizeof buf)) > 0) {
    for (ssize_t i = 0; i < n; ++i) on_signal_(buf[i]);
  }
}

}  // namespace gev::detail
