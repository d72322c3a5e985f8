// DialTable implementation.
#include "dialer.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>
#include <vector>

#include "gev/connection.h"
#include "gev/log.h"
#include "listener.h"
#include "poller.h"
#include "resolver.h"
#include "service.h"

namespace gev {

const char* to_string(DialError e) {
  switch (e) {
    case DialError::kRefused:
      return "refused";
    case DialError::kTimedOut:
      return "timed_out";
    case DialError::kUnreachable:
      return "unreachable";
    case DialError::kResolveFailed:
      return "resolve_failed";
    case DialError::kCancelled:
      return "cancelled";
    case DialError::kOther:
      return "other";
    case DialError::kCount:
      break;
  }
  return "unknown";
}

namespace detail {

DialError dial_error_of(int err) {
  switch (err) {
    case ECONNREFUSED:
      return DialError::kRefused;
    case ETIMEDOUT:
      return DialError::kTimedOut;
    case ENETUNREACH:
    case EHOSTUNREACH:
    case EADDRNOTAVAIL:
    case ENETDOWN:
    case EHOSTDOWN:
      return DialError::kUnreachable;
    default:
      return DialError::kOther;
  }
}

struct Dial final : IoHandler {
  Dial(DialTable& t, DialId i, Service& s, std::string a, ConnectOptions o)
      : table(t), id(i), service(s), address(std::move(a)), opts(std::move(o)),
        backoff(opts.reconnect_min) {}
  void handle_io(uint32_t) override { table.writable(*this); }

  DialTable& table;
  DialId id;
  Service& service;
  std::string address;
  ConnectOptions opts;
  std::vector<SocketAddress> candidates;
  size_t next = 0;
  int fd = -1;                // the socket being connected (registered for kWritable)
  int last_error = 0;         // of the last candidate that failed
  uint64_t attempt_no = 0;    // a resolver answer or deadline of an older attempt is stale
  bool resolving = false;
  bool in_callback = false;   // on_connect_failed runs: cancel() only marks
  bool cancelled = false;
  bool established = false;   // a connection of this dial is open (reconnect dials only)
  TimerId deadline = 0;
  TimerId retry = 0;
  std::chrono::milliseconds backoff;
};

DialTable::DialTable(EventLoop& loop, Resolver& resolver, const std::atomic<bool>& stopping)
    : loop_(loop),
      resolver_(resolver),
      stopping_(stopping),
      rng_(0x9e3779b97f4a7c15ull ^ (reinterpret_cast<uintptr_t>(this) * 0x100000001b3ull)) {}

DialTable::~DialTable() {
  for (auto& [id, d] : dials_)
    if (d->fd >= 0) ::close(d->fd);  // the loop is gone: no remove_io
}

Dial* DialTable::find(DialId id) {
  auto it = dials_.find(id);
  return it == dials_.end() ? nullptr : it->second.get();
}

void DialTable::erase(DialId id) {
  dials_.erase(id);
}

void DialTable::begin(DialId id, Service& service, std::string address, ConnectOptions opts) {
  loop_.assert_in_loop_thread();
  auto owned = std::make_unique<Dial>(*this, id, service, std::move(address), std::move(opts));
  Dial& d = *owned;
  dials_.emplace(id, std::move(owned));
  if (stopping_.load(std::memory_order_relaxed)) {
    fail(d, DialError::kCancelled, 0);
    return;
  }
  attempt(d);
}

void DialTable::attempt(Dial& d) {
  ++d.attempt_no;
  d.candidates.clear();
  d.next = 0;
  d.last_error = 0;
  d.service.counters_for(loop_.index()).dials.add(1);
  if (d.opts.timeout.count() > 0)
    d.deadline = loop_.run_after(d.opts.timeout, [this, id = d.id, n = d.attempt_no] {
      Dial* late = find(id);
      if (!late || late->attempt_no != n || (late->fd < 0 && !late->resolving)) return;
      late->deadline = 0;
      fail(*late, DialError::kTimedOut, ETIMEDOUT);
    });
  if (std::optional<SocketAddress> a = SocketAddress::parse_numeric(d.address)) {
    d.candidates.push_back(*a);
    try_next(d);
    return;
  }
  std::string host;
  uint16_t port = 0;
  if (!split_host_port(d.address, &host, &port)) {
    fail(d, DialError::kResolveFailed, EAI_NONAME);
    return;
  }
  d.resolving = true;
  EventLoop* loop = &loop_;
  resolver_.resolve(std::move(host), port,
                    [this, loop, id = d.id, n = d.attempt_no](int err,
                                                              std::vector<SocketAddress> found) {
                      loop->run_in_loop([this, id, n, err, found = std::move(found)]() mutable {
                        resolved(id, n, err, std::move(found));
                      });
                    });
}

void DialTable::resolved(DialId id, uint64_t attempt, int gai_error,
                         std::vector<SocketAddress> found) {
  Dial* d = find(id);
  if (!d || d->attempt_no != attempt || !d->resolving) return;  // timed out or cancelled
  d->resolving = false;
  if (gai_error != 0) {
    GEV_DEBUG("dial %s: %s", d->address.c_str(), ::gai_strerror(gai_error));
    fail(*d, DialError::kResolveFailed, gai_error);
    return;
  }
  d->candidates = std::move(found);
  try_next(*d);
}

void DialTable::try_next(Dial& d) {
  while (d.next < d.candidates.size()) {
    const SocketAddress& to = d.candidates[d.next++];
    int fd = stream_socket(to.family());
    if (fd < 0) {
      d.last_error = errno;
      continue;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rc = ::connect(fd, to.get(), to.size());
    if (rc == 0) {  // (loopback may connect at once)
      d.fd = fd;
      connected(d);
      return;
    }
    if (errno == EINPROGRESS) {
      try {
        loop_.add_io(fd, kWritable, &d);
      } catch (const std::system_error& e) {
        d.last_error = e.code().value();
        ::close(fd);
        continue;
      }
      d.fd = fd;
      return;
    }
    d.last_error = errno;
    ::close(fd);
  }
  int err = d.last_error ? d.last_error : ECONNREFUSED;
  fail(d, dial_error_of(err), err);
}

void DialTable::drop_socket(Dial& d) {
  if (d.fd < 0) return;
  loop_.remove_io(d.fd, kWritable);
  ::close(d.fd);
  d.fd = -1;
}

void DialTable::writable(Dial& d) {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(d.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
  if (err == 0) {
    // Writable without an error is connected; a report without either (a spurious one)
    // is told apart by getpeername.
    sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (::getpeername(d.fd, reinterpret_cast<sockaddr*>(&ss), &sl) < 0) {
      if (errno == ENOTCONN) return;  // still connecting
      err = errno;
    }
  }
  if (err == EINPROGRESS || err == EALREADY) return;
  if (err == 0) {
    loop_.remove_io(d.fd, kWritable);  // the Connection registers it afresh
    connected(d);
    return;
  }
  drop_socket(d);
  d.last_error = err;
  try_next(d);
}

void DialTable::connected(Dial& d) {
  if (d.deadline) loop_.cancel(std::exchange(d.deadline, 0));
  int fd = std::exchange(d.fd, -1);
  Service& svc = d.service;
  svc.live.fetch_add(1, std::memory_order_relaxed);
  loop_.note_incoming();
  auto conn = std::make_shared<Connection>(loop_, svc, fd, SocketAddress::peer_of(fd), true);
  GEV_DEBUG("dial %s: connected (conn %llu)", d.address.c_str(),
            static_cast<unsigned long long>(conn->id()));
  DialId id = d.id;
  bool keep = d.opts.reconnect && !d.cancelled;  // redial when it closes
  conn->context() = keep ? d.opts.context : std::move(d.opts.context);
  d.established = true;  // (a cancel_dial from on_connect leaves the connection be)
  d.backoff = d.opts.reconnect_min;
  if (keep)
    conn->set_closed_hook([this, id](Connection& c) {
      closed(id, c.close_reason() == CloseReason::kServerStop);
    });
  if (!conn->start()) {  // the fd could not be watched: it is closed, no callback ran
    Dial* again = find(id);
    if (!again) return;
    again->established = false;
    again->opts.context = std::move(conn->context());
    fail(*again, DialError::kOther, ENOSPC);
    return;
  }
  if (!keep) erase(id);
}

void DialTable::closed(DialId id, bool stopped) {
  Dial* d = find(id);
  if (!d) return;
  d->established = false;
  if (stopped || d->cancelled || stopping_.load(std::memory_order_relaxed)) {
    erase(id);
    return;
  }
  schedule_retry(*d);
}

void DialTable::fail(Dial& d, DialError reason, int error) {
  if (d.deadline) loop_.cancel(std::exchange(d.deadline, 0));
  drop_socket(d);
  d.resolving = false;
  d.service.counters_for(loop_.index()).dial_failed[static_cast<size_t>(reason)].add(1);
  bool retry = d.opts.reconnect && !d.cancelled && reason != DialError::kCancelled &&
               !stopping_.load(std::memory_order_relaxed);
  GEV_DEBUG("dial %s: %s (%d)%s", d.address.c_str(), to_string(reason), error,
            retry ? ", will retry" : "");
  DialId id = d.id;
  d.in_callback = true;
  DialFailure f{d.address, reason, error, d.opts.context, loop_, id, retry};
  d.service.handler.on_connect_failed(f);
  Dial* still = find(id);  // (the handler may have cancelled it; then it is marked)
  if (!still) return;
  still->in_callback = false;
  if (retry && !still->cancelled && !stopping_.load(std::memory_order_relaxed)) {
    schedule_retry(*still);
    return;
  }
  if (retry) {  // cancelled in the callback or by a stop meanwhile: it ends here
    still->opts.reconnect = false;
    fail(*still, DialError::kCancelled, 0);
    return;
  }
  erase(id);
}

void DialTable::schedule_retry(Dial& d) {
  using std::chrono::milliseconds;
  milliseconds top = std::max(d.backoff, milliseconds(1));
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  milliseconds delay = top / 2 + milliseconds(rng_ % static_cast<uint64_t>(top.count() / 2 + 1));
  d.backoff = std::min(d.backoff * 2, std::max(d.opts.reconnect_max, d.opts.reconnect_min));
  d.retry = loop_.run_after(delay, [this, id = d.id] {
    Dial* again = find(id);
    if (!again) return;
    again->retry = 0;
    if (stopping_.load(std::memory_order_relaxed)) {
      again->opts.reconnect = false;
      fail(*again, DialError::kCancelled, 0);
      return;
    }
    attempt(*again);
  });
}

void DialTable::cancel(DialId id) {
  Dial* d = find(id);
  if (!d) return;
  d->cancelled = true;
  if (d->in_callback) return;  // fail() ends it when the callback returns
  if (d->established) return;  // its connection lives on; closed() will not redial
  if (d->retry) loop_.cancel(std::exchange(d->retry, 0));
  d->opts.reconnect = false;
  fail(*d, DialError::kCancelled, 0);
}

void DialTable::cancel_all() {
  std::vector<DialId> ids;
  ids.reserve(dials_.size());
  for (auto& [id, d] : dials_) ids.push_back(id);
  for (DialId id : ids) {
    Dial* d = find(id);
    if (!d) continue;
    if (d->established) {  // the stop closes the connection; nothing to redial
      d->cancelled = true;
      continue;
    }
    cancel(id);
  }
}

}  // namespace detail
}  // namespace gev
