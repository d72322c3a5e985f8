// DatagramSocket implementation: the batch read, the peer table, the batched send.
#include "datagram_socket.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>

#include "connection_io.h"
#include "gev/connection.h"
#include "gev/log.h"
#include "listener.h"
#include "poller.h"
#include "service.h"

// recvmmsg/sendmmsg: Linux, and FreeBSD 11+. Elsewhere (macOS; the kqueue model build
// on Linux, which stands for it) one recvmsg/sendmsg per datagram, same behaviour.
#if (defined(__linux__) || defined(__FreeBSD__)) && !defined(GEV_MACOS_SOCKETS)
#define GEV_HAVE_MMSG 1
#endif

namespace gev::detail {

namespace {
constexpr size_t kKeepQueueCapacity = 256 * 1024;  // after a burst, keep at most this

void set_fd_flags(int fd) {
  int fl = ::fcntl(fd, F_GETFL);
  if (fl < 0 || ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 ||
      ::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
    throw std::system_error(errno, std::generic_category(), "fcntl");
}
}  // namespace

int open_datagram_socket(const SocketAddress& addr, bool reuse_port) {
  int fd = ::socket(addr.family(), SOCK_DGRAM, 0);
  if (fd < 0)
    throw std::system_error(errno, std::generic_category(), "socket for " + addr.to_string());
  try {
    set_fd_flags(fd);
    int on = 1;
    if (reuse_port &&
        ::setsockopt(fd, SOL_SOCKET, reuseport_option().name, &on, sizeof on) != 0)
      throw std::system_error(errno, std::generic_category(), reuseport_option().label);
    if (addr.family() == AF_INET6)  // [::]:port is IPv6 only, as the stream listener's
      ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
    if (::bind(fd, addr.get(), addr.size()) != 0)
      throw std::system_error(errno, std::generic_category(), "bind udp " + addr.to_string());
  } catch (...) {
    ::close(fd);
    throw;
  }
  return fd;
}

void adopt_datagram_socket(int fd) {
  int type = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0)
    throw std::invalid_argument("fd " + std::to_string(fd) + " is not a socket: " +
                                std::strerror(errno));
  if (type != SOCK_DGRAM)
    throw std::invalid_argument("fd " + std::to_string(fd) + " is not a datagram (UDP) socket");
  if (SocketAddress::local_of(fd).port() == 0)
    throw std::invalid_argument("fd " + std::to_string(fd) + " is a datagram socket not bound to a port");
  try {
    set_fd_flags(fd);
  } catch (const std::system_error& e) {
    throw std::invalid_argument("fd " + std::to_string(fd) + ": " + e.what());
  }
}

bool datagram_reuses_port(int fd) {
  int on = 0;
  socklen_t len = sizeof on;
  return ::getsockopt(fd, SOL_SOCKET, reuseport_option().name, &on, &len) == 0 && on != 0;
}

size_t DatagramSocket::KeyHash::operator()(const Key& k) const {
  uint64_t a, b;
  std::memcpy(&a, k.addr.data(), 8);
  std::memcpy(&b, k.addr.data() + 8, 8);
  uint64_t h = (a * 0x9E3779B97F4A7C15ull) ^ (b * 0xC2B2AE3D27D4EB4Full) ^
               (uint64_t{k.port} << 8 | k.family);
  return static_cast<size_t>(h ^ (h >> 29));
}

DatagramSocket::Key DatagramSocket::key_of(const SocketAddress& a) {
  Key k;
  k.family = static_cast<uint8_t>(a.family());
  k.port = a.port();
  if (a.family() == AF_INET6) {
    std::memcpy(k.addr.data(), &reinterpret_cast<const sockaddr_in6*>(a.get())->sin6_addr, 16);
  } else {
    std::memcpy(k.addr.data(), &reinterpret_cast<const sockaddr_in*>(a.get())->sin_addr, 4);
  }
  return k;
}

DatagramSocket::DatagramSocket(EventLoop& loop, int fd, Service& service)
    : loop_(loop), fd_(fd), service_(service), slot_size_(std::max<size_t>(service.options.max_datagram, 1)) {}

DatagramSocket::~DatagramSocket() {
  if (fd_ >= 0) ::close(fd_);
}

LoopCounters& DatagramSocket::counters() {
  return service_.counters_for(loop_.index());
}

void DatagramSocket::count_drop(DatagramDrop why) {
  counters().datagram_drops[static_cast<size_t>(why)].add(1);
}

void DatagramSocket::start() {
  loop_.assert_in_loop_thread();
  if (started_ || fd_ < 0) return;
  slots_ = std::make_unique_for_overwrite<uint8_t[]>(kBatch * slot_size_);
  slot_iov_.resize(kBatch);
  slot_from_.resize(kBatch);
  slot_len_.resize(kBatch);
  slot_flags_.resize(kBatch);
  for (int i = 0; i < kBatch; ++i)
    slot_iov_[i] = {slots_.get() + static_cast<size_t>(i) * slot_size_, slot_size_};
  interest_ = kReadable;
  loop_.add_io(fd_, interest_, this);
  started_ = true;
}

void DatagramSocket::stop(CloseReason reason) {
  loop_.assert_in_loop_thread();
  if (fd_ < 0) return;
  // Every peer's goodbye (on_stopping may send one), then its close: the socket that
  // answers for it is going away, so none stays open past this.
  std::vector<std::shared_ptr<Connection>> all;
  all.reserve(peers_.size());
  for (auto& [key, c] : peers_) all.push_back(c->shared_from_this());
  in_batch_ = true;  // goodbyes leave together
  for (auto& c : all) c->begin_stopping(reason);
  for (auto& c : all) c->close_now(reason);
  in_batch_ = false;
  if (out_sent_ < out_.size()) flush();  // what the socket takes now; the rest is dropped
  if (size_t left = out_.size() - out_sent_; left > 0) {
    GEV_DEBUG("udp %s: %zu replies unsent at the stop", SocketAddress::local_of(fd_).to_string().c_str(), left);
    counters().datagram_drops[static_cast<size_t>(DatagramDrop::kSendError)].add(left);
  }
  out_.clear();
  out_bytes_.clear();
  out_sent_ = 0;
  if (started_) loop_.remove_io(fd_, interest_);
  interest_ = 0;
  ::close(fd_.exchange(-1));
  slots_.reset();
}

void DatagramSocket::set_interest(uint32_t want) {
  if (fd_ < 0 || !started_ || want == interest_) return;
  loop_.update_io(fd_, interest_, want);
  interest_ = want;
}

void DatagramSocket::handle_io(uint32_t mask) {
  if ((mask & kWritable) && out_sent_ < out_.size()) flush();
  // Still behind with output: read nothing more until the socket has taken it.
  if (fd_ < 0 || (interest_ & kWritable) || !(mask & (kReadable | kHangup))) return;
  int n = receive(kBatch);  // one batch per report: other sockets get their turn
  if (n > 0) dispatch(n);
}

int DatagramSocket::receive(int max) {
#ifdef GEV_HAVE_MMSG
  mmsghdr msgs[kBatch];
  for (int i = 0; i < max; ++i) {
    msghdr& h = msgs[i].msg_hdr;
    h = {};
    h.msg_name = slot_from_[i].get();
    h.msg_namelen = sizeof(sockaddr_in6);
    h.msg_iov = &slot_iov_[i];
    h.msg_iovlen = 1;
  }
  int n = ::recvmmsg(fd_, msgs, static_cast<unsigned>(max), MSG_DONTWAIT, nullptr);
  if (n < 0) {
    if (!transient(errno)) GEV_DEBUG("udp: recvmmsg: %s", std::strerror(errno));
    return 0;
  }
  for (int i = 0; i < n; ++i) {
    slot_len_[i] = msgs[i].msg_len;
    slot_flags_[i] = msgs[i].msg_hdr.msg_flags;
  }
  return n;
#else
  int n = 0;
  for (; n < max; ++n) {
    msghdr h{};
    h.msg_name = slot_from_[n].get();
    h.msg_namelen = sizeof(sockaddr_in6);
    h.msg_iov = &slot_iov_[n];
    h.msg_iovlen = 1;
    ssize_t got = ::recvmsg(fd_, &h, MSG_DONTWAIT);
    if (got < 0) {
      if (!transient(errno)) GEV_DEBUG("udp: recvmsg: %s", std::strerror(errno));
      break;
    }
    slot_len_[n] = static_cast<uint32_t>(got);
    slot_flags_[n] = h.msg_flags;
  }
  return n;
#endif
}

void DatagramSocket::dispatch(int n) {
  LoopCounters& cnt = counters();
  cnt.datagrams_in.add(static_cast<uint64_t>(n));
  in_batch_ = true;
  for (int i = 0; i < n && fd_ >= 0; ++i) {
    if (slot_flags_[i] & MSG_TRUNC) {
      count_drop(DatagramDrop::kTruncated);
      GEV_DEBUG("udp: datagram from %s over %zu bytes: dropped", slot_from_[i].to_string().c_str(),
                slot_size_);
      continue;
    }
    cnt.bytes_in.add(slot_len_[i]);
    Connection* peer = peer_for(slot_from_[i]);
    if (peer) peer->deliver_datagram({static_cast<const uint8_t*>(slot_iov_[i].iov_base), slot_len_[i]});
  }
  in_batch_ = false;
  if (out_sent_ < out_.size()) flush();
}

Connection* DatagramSocket::peer_for(const SocketAddress& from) {
  Key k = key_of(from);
  if (last_peer_ && k == last_key_) return last_peer_;
  if (auto it = peers_.find(k); it != peers_.end()) {
    last_key_ = k;
    last_peer_ = it->second;
    return it->second;
  }
  size_t max = service_.options.max_connections;
  if (max != 0 && service_.live.load(std::memory_order_relaxed) >= max) {
    counters().refused.add(1);
    count_drop(DatagramDrop::kPeerCap);
    GEV_DEBUG("udp: refused %s: %zu peers (the cap)", from.to_string().c_str(), max);
    return nullptr;
  }
  service_.live.fetch_add(1, std::memory_order_relaxed);
  counters().accepted.add(1);
  loop_.note_incoming();
  auto c = std::make_shared<Connection>(loop_, service_, fd_, from);
  c->set_datagram_socket(this);
  peers_.emplace(k, c.get());  // first: on_connect may already send to it
  c->start();                  // on_connect; it may close the peer at once
  if (!c->connected()) return nullptr;
  last_key_ = k;
  last_peer_ = c.get();
  return c.get();  // kept alive by its own reference until it closes
}

void DatagramSocket::forget(Connection& peer) {
  if (last_peer_ == &peer) last_peer_ = nullptr;
  auto it = peers_.find(key_of(peer.peer_address()));
  if (it != peers_.end() && it->second == &peer) peers_.erase(it);
}

bool DatagramSocket::send(const SocketAddress& to, const iovec* iov, int count) {
  size_t n = 0;
  for (int i = 0; i < count; ++i) n += iov[i].iov_len;
  if (fd_ < 0 || out_bytes_.size() + n > kMaxQueuedBytes) {
    count_drop(DatagramDrop::kSendError);
    GEV_DEBUG("udp: reply of %zu bytes to %s dropped: %s", n, to.to_string().c_str(),
              fd_ < 0 ? "the listener stopped" : "the send queue is full");
    return false;
  }
  size_t offset = out_bytes_.size();
  for (int i = 0; i < count; ++i) {
    auto* p = static_cast<const uint8_t*>(iov[i].iov_base);
    out_bytes_.insert(out_bytes_.end(), p, p + iov[i].iov_len);
  }
  out_.push_back({offset, n, to});
  if (!in_batch_ && !(interest_ & kWritable)) flush();
  return true;
}

namespace {
bool same_address(const SocketAddress& a, const SocketAddress& b) {
  return a.size() == b.size() && std::memcmp(a.get(), b.get(), a.size()) == 0;
}
}  // namespace

// How many queued datagrams from `first` can leave as one UDP_SEGMENT (GSO) send: a run
// to one address, all of one size but the last (which may be shorter), under 64 KiB.
size_t DatagramSocket::gso_run(size_t first) const {
  if (!gso_ || out_[first].size == 0) return 1;
  size_t seg = out_[first].size, bytes = seg, n = 1;
  while (first + n < out_.size() && n < kMaxSegments) {
    const Queued& q = out_[first + n];
    if (q.size == 0 || q.size > seg || bytes + q.size > 65000 || !same_address(q.to, out_[first].to))
      break;
    bytes += q.size;
    ++n;
    if (q.size < seg) break;  // a shorter one ends the run
  }
  return n;
}

void DatagramSocket::flush() {
  LoopCounters& cnt = counters();
  while (out_sent_ < out_.size()) {
    iovec iov[kBatch];
    size_t runs[kBatch];
#ifdef GEV_HAVE_MMSG
    mmsghdr msgs[kBatch];
    alignas(cmsghdr) char ctl[kBatch][CMSG_SPACE(sizeof(uint16_t))];
    int n = 0;
    for (size_t at = out_sent_; n < kBatch && at < out_.size(); ++n) {
      Queued& q = out_[at];
      runs[n] = gso_run(at);
      size_t bytes = 0;
      for (size_t k = 0; k < runs[n]; ++k) bytes += out_[at + k].size;
      iov[n] = {out_bytes_.data() + q.offset, bytes};  // a run's bytes are contiguous
      msghdr& h = msgs[n].msg_hdr;
      h = {};
      h.msg_name = q.to.get();
      h.msg_namelen = q.to.size();
      h.msg_iov = &iov[n];
      h.msg_iovlen = 1;
      if (runs[n] > 1) {
        h.msg_control = ctl[n];
        h.msg_controllen = sizeof ctl[n];
        cmsghdr* c = CMSG_FIRSTHDR(&h);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        auto seg = static_cast<uint16_t>(q.size);
        std::memcpy(CMSG_DATA(c), &seg, sizeof seg);
      }
      at += runs[n];
    }
    int sent = ::sendmmsg(fd_, msgs, static_cast<unsigned>(n), MSG_DONTWAIT);
#else
    int n = static_cast<int>(std::min<size_t>(kBatch, out_.size() - out_sent_));
    int sent = 0;
    for (; sent < n; ++sent) {
      Queued& q = out_[out_sent_ + static_cast<size_t>(sent)];
      runs[sent] = 1;
      iov[0] = {out_bytes_.data() + q.offset, q.size};
      msghdr h{};
      h.msg_name = q.to.get();
      h.msg_namelen = q.to.size();
      h.msg_iov = iov;
      h.msg_iovlen = 1;
      if (::sendmsg(fd_, &h, MSG_DONTWAIT) < 0) break;
    }
    if (sent == 0) sent = -1;
#endif
    if (sent < 0) {
      if (transient(errno)) {
        set_interest(kWritable);  // the rest waits; reading stops until it has gone
        return;
      }
      if (runs[0] > 1) {  // this kernel or route takes no GSO: send them one by one
        GEV_DEBUG("udp: UDP_SEGMENT refused (%s): sending datagrams one by one", std::strerror(errno));
        gso_ = false;
        continue;
      }
      // This one cannot be sent (too large, no route): drop it, go on with the rest.
      Queued& q = out_[out_sent_];
      GEV_DEBUG("udp: send of %zu bytes to %s: %s; dropped", q.size, q.to.to_string().c_str(),
                std::strerror(errno));
      count_drop(DatagramDrop::kSendError);
      ++out_sent_;
      continue;
    }
    uint64_t bytes = 0, datagrams = 0;
    for (int i = 0; i < sent; ++i) {
      for (size_t k = 0; k < runs[i]; ++k) bytes += out_[out_sent_ + k].size;
      datagrams += runs[i];
      out_sent_ += runs[i];
    }
    cnt.datagrams_out.add(datagrams);
    cnt.bytes_out.add(bytes);
  }
  out_.clear();
  out_bytes_.clear();
  out_sent_ = 0;
  if (out_bytes_.capacity() > kKeepQueueCapacity) out_bytes_.shrink_to_fit();
  set_interest(kReadable);
}

}  // namespace gev::detail
