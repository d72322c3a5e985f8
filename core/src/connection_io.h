// Small I/O helpers the connection's files share.
#pragma once

#include <cerrno>

namespace gev::detail {

// A read or write that failed only for now: try again on the next readiness report.
inline bool transient(int err) {
  return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

}  // namespace gev::detail
