// Wakeup on Linux: one eventfd serves as both ends.
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "wakeup.h"

namespace gev::detail {

Wakeup::Wakeup() {
  read_fd_ = write_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (read_fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
}

Wakeup::~Wakeup() {
  ::close(read_fd_);
}

void Wakeup::notify() {
  uint64_t one = 1;
  ssize_t n = ::write(write_fd_, &one, sizeof one);
  (void)n;  // EAGAIN means the counter is already non-zero: the loop will wake anyway.
}

void Wakeup::handle_io(uint32_t) {
  uint64_t value;
  ssize_t n = ::read(read_fd_, &value, sizeof value);
  (void)n;
}

}  // namespace gev::detail
