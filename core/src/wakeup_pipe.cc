// Wakeup on BSD/macOS: a non-blocking self-pipe. UNTESTED here (Linux-only CI).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "wakeup.h"

namespace gev::detail {

Wakeup::Wakeup() {
  int fds[2];
  if (::pipe(fds) < 0) throw std::system_error(errno, std::generic_category(), "pipe");
  for (int fd : fds) {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  read_fd_ = fds[0];
  write_fd_ = fds[1];
}

Wakeup::~Wakeup() {
  ::close(read_fd_);
  ::close(write_fd_);
}

void Wakeup::notify() {
  char c = 1;
  ssize_t n = ::write(write_fd_, &c, 1);
  (void)n;  // a full pipe already guarantees a wake-up
}

void Wakeup::handle_io(uint32_t) {
  char buf[256];
  while (::read(read_fd_, buf, sizeof buf) > 0) {
  }
}

}  // namespace gev::detail
