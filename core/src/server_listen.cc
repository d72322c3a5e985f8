// Server, inbound: adding and removing listeners, binding their sockets (TCP listeners,
// UDP socket groups), starting and stopping them, and handing accepted connections to
// loops.
#include <unistd.h>

#include <atomic>
#include <optional>
#include <stdexcept>

#include "gev/log.h"
#include "server_internal.h"

namespace gev {

using detail::label;
using detail::label_of;
using detail::pick_loop;

size_t Server::add_listener(Handler& handler, Options options, Protocol* protocol) {
  return add_listener(handler, std::move(options), protocol, true);
}

size_t Server::add_listener_paused(Handler& handler, Options options, Protocol* protocol) {
  return add_listener(handler, std::move(options), protocol, false);
}

void Server::start_listener(size_t listener) {
  if (started_.load()) start_listeners(entry(listener));
}

size_t Server::add_listener(Handler& handler, Options options, Protocol* protocol, bool start) {
  if (stop_requested_.load()) throw std::logic_error("add_listener during a stop");
  auto entry = std::make_unique<ListenerEntry>();
  options.loops = options_.loops;
  if (options.listen_fd >= 0) options.reuse_port = false;  // one socket: the adopted one
  if (options.reuse_port && !detail::reuseport_option().balances) {
    GEV_WARN("%s: %s does not spread connections on this platform; one acceptor instead",
             options.address.c_str(), detail::reuseport_option().label);
    options.reuse_port = false;
  }
  if (options.write_low_water > options.write_high_water)
    options.write_low_water = options.write_high_water;
  if (options.network == Network::kUdp) {
    if (options.transport || !options.tls.cert_file.empty())
      throw std::invalid_argument(label_of(options) + "a UDP listener has no TLS (DTLS is not built)");
    if (options.idle_timeout.count() <= 0) options.idle_timeout = std::chrono::seconds(30);
    if (options.max_datagram == 0 || options.max_datagram > 65535)
      throw std::invalid_argument(label_of(options) + "max_datagram must be 1..65535 bytes");
  }
  if (!options.transport && !options.tls.cert_file.empty()) {
    detail::TlsMaker make = detail::tls_maker();
    if (!make)
      throw std::invalid_argument(label_of(options) +
                                  "Options::tls is set, but the gev::tls library is not in this "
                                  "program (link gev::tls and include <gev/tls.h>)");
    std::string error;
    options.transport = make(options.tls, &error);
    if (!options.transport) throw std::invalid_argument(label_of(options) + error);
  }
  if (!protocol) {
    entry->own_protocol = std::make_unique<RawProtocol>();
    protocol = entry->own_protocol.get();
  }
  entry->service = std::make_unique<detail::Service>(*protocol, handler, options, options_.loops);
  if (!started_.load()) {
    std::lock_guard lock(listeners_mu_);
    listeners_.push_back(std::move(entry));
    return listeners_.size() - 1;
  }
  open_listeners(*entry);  // throws before anything is shared
  ListenerEntry& e = *entry;
  size_t index;
  {
    std::lock_guard lock(listeners_mu_);
    listeners_.push_back(std::move(entry));
    index = listeners_.size() - 1;
  }
  if (start) start_listeners(e);
  return index;
}

void Server::remove_listener(size_t listener, std::function<void()> done) {
  ListenerEntry& e = entry(listener);
  if (!started_.load()) return;
  main_loop_->run_in_loop([this, &e, done = std::move(done)] {
    stop_listeners(e);
    e.removed = true;
    GEV_INFO("%sclosed %s", label(*e.service).c_str(), e.bound.to_string().c_str());
    if (!done) return;
    // A connection accepted before the stop is queued on its loop (reuse_port: the stop
    // itself is): one more task on every loop comes after all of them.
    auto left = std::make_shared<std::atomic<size_t>>(loop_ptrs_.size());
    for (EventLoop* loop : loop_ptrs_)
      loop->queue_in_loop([left, done] {
        if (left->fetch_sub(1) == 1) done();
      });
  });
}

void Server::listen() {
  std::lock_guard lock(listeners_mu_);
  try {
    for (auto& entry : listeners_) open_listeners(*entry);
  } catch (...) {
    // Nothing runs yet: forget the attempt so the destructor does not wait for a stop.
    for (auto& entry : listeners_) {
      entry->sockets.clear();
      entry->datagrams.clear();
      entry->datagram_loops.clear();
    }
    started_ = false;
    throw;
  }
  for (auto& entry : listeners_) start_listeners(*entry);
}

void Server::start_listeners(ListenerEntry& entry) {
  const Options& o = entry.service->options;
  if (o.network == Network::kUdp) {
    for (size_t i = 0; i < entry.datagrams.size(); ++i)
      entry.datagram_loops[i]->queue_in_loop([d = entry.datagrams[i].get()] { d->start(); });
    GEV_INFO("%sserving udp %s (%zu sockets on %zu loops)", label(*entry.service).c_str(),
             entry.bound.to_string().c_str(), entry.datagrams.size(), options_.loops);
    return;
  }
  for (size_t i = 0; i < entry.sockets.size(); ++i) {
    EventLoop& owner = o.reuse_port ? *loop_ptrs_[i] : *main_loop_;
    detail::Listener* l = entry.sockets[i].get();
    owner.queue_in_loop([l] { l->start(); });
  }
  GEV_INFO("%slistening on %s (%zu loops%s%s)", label(*entry.service).c_str(), entry.bound.to_string().c_str(), options_.loops,
           o.reuse_port ? ", " : "", o.reuse_port ? detail::reuseport_option().label : "");
}

// On the acceptor loop. A reuse_port socket belongs to its own loop.
void Server::stop_listeners(ListenerEntry& entry) {
  for (size_t i = 0; i < entry.datagrams.size(); ++i)  // (its peers close with it)
    entry.datagram_loops[i]->run_in_loop([d = entry.datagrams[i].get()] { d->stop(); });
  if (entry.service->options.network == Network::kUdp) return;
  if (!entry.service->options.reuse_port) {
    if (!entry.sockets.empty()) entry.sockets[0]->stop();
    return;
  }
  for (size_t i = 0; i < entry.sockets.size(); ++i)
    loop_ptrs_[i]->run_in_loop([l = entry.sockets[i].get()] { l->stop(); });
}

void Server::open_listeners(ListenerEntry& entry) {
  const Options& o = entry.service->options;
  std::optional<SocketAddress> addr = SocketAddress::parse(o.address);
  if (o.network == Network::kUdp) {
    open_datagram_sockets(entry, addr);
    return;
  }
  if (!addr && o.listen_fd < 0)
    throw std::invalid_argument("bad listen address '" + o.address + "'");
  ListenerEntry* e = &entry;
  if (!o.reuse_port) {
    int fd = o.listen_fd;
    if (fd >= 0) {
      detail::adopt_listen_socket(fd);
    } else {
      fd = detail::open_listen_socket(*addr, false, o.backlog);
    }
    entry.bound = SocketAddress::local_of(fd);
    EventLoop& ml = *main_loop_;
    entry.sockets.push_back(std::make_unique<detail::Listener>(
        ml, fd, entry.service->counters_for(ml.index()),
        [this, e, &ml](int cfd, const SocketAddress& peer) { on_accept(*e, ml, cfd, peer); }));
    return;
  }
  // One socket per loop on the same port; the kernel spreads connections among them.
  SocketAddress at = *addr;
  for (EventLoop* loop : loop_ptrs_) {
    int fd = detail::open_listen_socket(at, true, o.backlog);
    if (entry.sockets.empty()) at = entry.bound = SocketAddress::local_of(fd);
    entry.sockets.push_back(std::make_unique<detail::Listener>(
        *loop, fd, entry.service->counters_for(loop->index()),
        [this, e, loop](int cfd, const SocketAddress& peer) { on_accept(*e, *loop, cfd, peer); }));
  }
}

// UDP: the sockets handed in, or one per loop (a SO_REUSEPORT group where the kernel
// spreads by flow, so a peer's datagrams keep reaching the same loop and its table).
void Server::open_datagram_sockets(ListenerEntry& entry, const std::optional<SocketAddress>& addr) {
  const Options& o = entry.service->options;
  std::vector<int> fds = o.listen_fds;
  if (o.listen_fd >= 0) fds.push_back(o.listen_fd);
  auto add = [&](int fd) {
    EventLoop* loop = loop_ptrs_[entry.datagrams.size() % loop_ptrs_.size()];
    entry.datagrams.push_back(std::make_unique<detail::DatagramSocket>(*loop, fd, *entry.service));
    entry.datagram_loops.push_back(loop);
  };
  bool group = detail::reuseport_option().balances && loop_ptrs_.size() > 1;
  if (fds.empty()) {
    if (!addr) throw std::invalid_argument("bad listen address '" + o.address + "'");
    SocketAddress at = *addr;
    for (size_t i = 0; i < (group ? loop_ptrs_.size() : 1); ++i) {
      int fd = detail::open_datagram_socket(at, group);
      if (i == 0) at = entry.bound = SocketAddress::local_of(fd);
      add(fd);
    }
    return;
  }
  for (int fd : fds) {
    detail::adopt_datagram_socket(fd);
    add(fd);
  }
  entry.bound = SocketAddress::local_of(fds[0]);
  if (group && detail::datagram_reuses_port(fds[0]))
    while (entry.datagrams.size() < loop_ptrs_.size())
      add(detail::open_datagram_socket(entry.bound, true));
}

void Server::on_accept(ListenerEntry& entry, EventLoop& accepting, int fd,
                       const SocketAddress& peer) {
  detail::Service& svc = *entry.service;
  detail::LoopCounters& cnt = svc.counters_for(accepting.index());
  if (stopping_.load(std::memory_order_relaxed)) {
    ::close(fd);
    return;
  }
  size_t max = svc.options.max_connections;
  if (max != 0 && svc.live.load(std::memory_order_relaxed) >= max) {
    cnt.refused.add(1);
    ::close(fd);
    GEV_DEBUG("refused %s: %zu connections open (max_connections)", peer.to_string().c_str(), max);
    return;
  }
  svc.live.fetch_add(1, std::memory_order_relaxed);
  cnt.accepted.add(1);
  EventLoop* loop = svc.options.reuse_port ? &accepting : choose_loop(entry);
  loop->note_incoming();
  detail::Service* service = &svc;
  loop->run_in_loop([this, service, loop, fd, peer] {
    if (stopping_.load(std::memory_order_relaxed)) {  // the loop already drained
      ::close(fd);
      service->live.fetch_sub(1, std::memory_order_relaxed);
      loop->note_gone();
      return;
    }
    std::make_shared<Connection>(*loop, *service, fd, peer)->start();
  });
}

EventLoop* Server::choose_loop(ListenerEntry& entry) {
  return pick_loop(entry.service->options, loop_ptrs_, [&entry] { return entry.next_loop++; });
}

int Server::listen_fd(size_t listener) const {
  std::lock_guard lock(listeners_mu_);
  if (listener >= listeners_.size()) return -1;
  const ListenerEntry& e = *listeners_[listener];
  if (e.service->options.reuse_port || e.sockets.empty()) return -1;
  return e.sockets[0]->fd();
}

std::vector<int> Server::listen_fds(size_t listener) const {
  std::lock_guard lock(listeners_mu_);
  std::vector<int> fds;
  if (listener >= listeners_.size()) return fds;
  const ListenerEntry& e = *listeners_[listener];
  for (const auto& d : e.datagrams)
    if (int fd = d->fd(); fd >= 0) fds.push_back(fd);
  if (e.datagrams.empty() && !e.service->options.reuse_port && !e.sockets.empty() &&
      e.sockets[0]->fd() >= 0)
    fds.push_back(e.sockets[0]->fd());
  return fds;
}

}  // namespace gev
