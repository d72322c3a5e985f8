// Server: listening, handing connections to loops, and the graceful stop.
#include "gev/server.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <stdexcept>

#include "datagram_socket.h"
#include "dialer.h"
#include "gev/log.h"
#include "listener.h"
#include "resolver.h"
#include "service.h"
#include "signal_watcher.h"

namespace gev {

namespace {
size_t resolve_loop_count(size_t n) {
  if (n > 0) return n;
  unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? hw : 1;
}
constexpr auto kDrainPoll = std::chrono::milliseconds(10);
}  // namespace

// One listening address and what serves it.
struct Server::ListenerEntry {
  std::unique_ptr<Protocol> own_protocol;
  std::unique_ptr<detail::Service> service;
  std::vector<std::unique_ptr<detail::Listener>> sockets;  // [0] on the main loop, or one per loop
  // A UDP listener's sockets instead, each served by datagram_loops[i].
  std::vector<std::unique_ptr<detail::DatagramSocket>> datagrams;
  std::vector<EventLoop*> datagram_loops;
  SocketAddress bound;
  size_t next_loop = 0;  // round-robin cursor (acceptor thread)
  bool removed = false;  // by remove_listener (main loop): the stop has nothing to say of it
};

namespace {
// "listener main: " for the log, or nothing for a listener without a name.
std::string label_of(const Options& options) {
  return options.name.empty() ? std::string() : options.name + ": ";
}
std::string label(const detail::Service& service) {
  return label_of(service.options);
}
}  // namespace

Server::Server(Options options) : options_(std::move(options)) {
  options_.loops = resolve_loop_count(options_.loops);
  for (size_t i = 0; i < options_.loops; ++i) {
    loops_.push_back(std::make_unique<EventLoop>(i));
    loop_ptrs_.push_back(loops_.back().get());
  }
  main_loop_ = std::make_unique<EventLoop>(options_.loops);
  resolver_ = std::make_unique<detail::Resolver>();
  for (auto& loop : loops_)
    dial_tables_.push_back(std::make_unique<detail::DialTable>(*loop, *resolver_, stopping_));
}

Server::Server(Handler& handler, Options options, Protocol* protocol) : Server(options) {
  add_listener(handler, std::move(options), protocol);
}

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

size_t Server::listener_count() const {
  std::lock_guard lock(listeners_mu_);
  return listeners_.size();
}

Server::ListenerEntry& Server::entry(size_t listener) const {
  std::lock_guard lock(listeners_mu_);
  return *listeners_.at(listener);
}

Server::~Server() {
  stop();
  wait();
  resolver_->shutdown();  // (its answers post to loops: none may come after this)
  // Tasks and timers the loops never ran may hold things (a module instance, say) whose
  // release runs code that uses the loops: release them while every loop exists.
  for (auto& loop : loops_) loop->discard_pending();
  main_loop_->discard_pending();
  dial_tables_.clear();  // dials never finished hold contexts too
}

const SocketAddress& Server::address(size_t listener) const {
  return entry(listener).bound;
}

const Options& Server::listener_options(size_t listener) const {
  return entry(listener).service->options;
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

void Server::spawn_workers() {
  workers_running_ = loops_.size();
  for (auto& loop : loops_) threads_.emplace_back([l = loop.get()] { l->run(); });
}

void Server::start() {
  if (started_.exchange(true)) throw std::logic_error("Server started twice");
  listen();
  spawn_workers();
  main_thread_ = std::thread([this] {
    main_loop_->run();
    finish();
  });
}

void Server::run() {
  if (started_.exchange(true)) throw std::logic_error("Server started twice");
  // The signal pipe first, then the listeners: once "listening on" is logged the process
  // holds every descriptor it keeps (a test that counts them from then on saw the pipe
  // appear after its baseline on a busy machine, and took it for a leak).
  std::unique_ptr<detail::SignalWatcher> signals;
  if (options_.handle_signals) {
    try {
      signals = std::make_unique<detail::SignalWatcher>(
          *main_loop_,
          [this](int signo) {
            if (signo == SIGHUP) {
              GEV_INFO("signal %d (SIGHUP)", signo);
              hangup_hook_();
              return;
            }
            if (stop_requested_.load()) {  // a second one: no more delay
              GEV_INFO("signal %d: stopping now", signo);
              close_and_drain();
              return;
            }
            GEV_INFO("signal %d: stopping", signo);
            stop();
          },
          static_cast<bool>(hangup_hook_));
    } catch (...) {
      started_ = false;
      throw;
    }
  }
  listen();  // (forgets the attempt itself if a bind fails; the watcher goes with the throw)
  spawn_workers();
  main_loop_->run();
  signals.reset();
  finish();
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

namespace {
// The loop for a new connection by the options' load balance; `next` gives the
// round-robin cursor's next value, and is called only when round-robin decides.
template <class Next>
EventLoop* pick_loop(const Options& o, std::span<EventLoop* const> loops, Next next) {
  switch (o.load_balance) {
    case LoadBalance::kLeastConnections: {
      EventLoop* best = loops[0];
      for (EventLoop* l : loops)
        if (l->connection_count() < best->connection_count()) best = l;
      return best;
    }
    case LoadBalance::kCustom:
      if (o.chooser) {
        if (EventLoop* l = o.chooser(loops)) return l;
      }
      [[fallthrough]];
    case LoadBalance::kRoundRobin:
      break;
  }
  return loops[next() % loops.size()];
}
}  // namespace

EventLoop* Server::choose_loop(ListenerEntry& entry) {
  return pick_loop(entry.service->options, loop_ptrs_, [&entry] { return entry.next_loop++; });
}

void Server::stop() {
  if (!started_.load() || stop_requested_.exchange(true)) return;
  main_loop_->run_in_loop([this] { begin_stop(); });
}

void Server::stop_accepting() {
  if (!started_.load()) return;
  accepting_stopped_ = true;
  main_loop_->run_in_loop([this] {
    std::lock_guard lock(listeners_mu_);
    for (auto& entry : listeners_) stop_listeners(*entry);
  });
}

size_t Server::open_connections() const {
  std::lock_guard lock(listeners_mu_);
  size_t n = 0;
  for (const auto& entry : listeners_) n += entry->service->live.load(std::memory_order_relaxed);
  for (const auto& entry : dialers_) n += entry->service->live.load(std::memory_order_relaxed);
  return n;
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

void Server::begin_stop() {
  if (stop_hook_) stop_hook_();
  // (Pointless once the listeners were stopped, as after a hand-off's drain.)
  if (options_.stop_delay.count() > 0 && !accepting_stopped_.load()) {
    GEV_INFO("stopping in %lld ms (listeners accept until then)",
             static_cast<long long>(options_.stop_delay.count()));
    main_loop_->run_after(options_.stop_delay, [this] { close_and_drain(); });
    return;
  }
  close_and_drain();
}

void Server::close_and_drain() {
  if (closing_) return;  // a second signal during the delay came first
  closing_ = true;
  int64_t deadline = main_loop_->now_ns() + std::chrono::nanoseconds(options_.stop_timeout).count();
  stopping_.store(true, std::memory_order_relaxed);
  {
    std::lock_guard lock(listeners_mu_);
    for (auto& entry : listeners_) {
      if (!entry->removed)
        GEV_INFO("%sstopping %s", label(*entry->service).c_str(), entry->bound.to_string().c_str());
      stop_listeners(*entry);  // a reuse_port socket stops on its loop, before its drain
    }
  }
  for (size_t i = 0; i < loops_.size(); ++i)
    loops_[i]->run_in_loop([this, i, deadline] {
      // Once per connection: its goodbye, then its close (now, or when the handler's
      // closing handshake ends).
      dial_tables_[i]->cancel_all();  // each ends with kCancelled; none redials
      loops_[i]->for_each_connection(
          [](Connection& c) { c.begin_stopping(CloseReason::kServerStop); });
      drain(i, deadline);
    });
}

void Server::drain(size_t i, int64_t deadline_ns) {
  EventLoop& loop = *loops_[i];
  if (loop.connection_count() == 0) {
    if (loop_exit_hook_) loop_exit_hook_(loop);
    worker_done();
    loop.quit();
    return;
  }
  if (loop.now_ns() >= deadline_ns) {
    GEV_WARN("stop: %zu connections on loop %zu still had output at the deadline",
             loop.connection_count(), i);
    loop.for_each_connection([](Connection& c) { c.close_now(CloseReason::kServerStop); });
    if (loop_exit_hook_) loop_exit_hook_(loop);
    worker_done();
    loop.quit();
    return;
  }
  loop.run_after(kDrainPoll, [this, i, deadline_ns] { drain(i, deadline_ns); });
}

void Server::worker_done() {
  if (workers_running_.fetch_sub(1) == 1) main_loop_->quit();
}

void Server::finish() {
  for (auto& t : threads_) t.join();
  threads_.clear();
  {
    std::lock_guard lock(listeners_mu_);
    for (auto& entry : listeners_) {
      entry->sockets.clear();
      entry->datagrams.clear();
      if (!entry->removed)
        GEV_INFO("%sstopped %s", label(*entry->service).c_str(), entry->bound.to_string().c_str());
    }
  }
  std::lock_guard lock(done_mu_);
  done_ = true;
  done_cv_.notify_all();
}

void Server::wait() {
  if (!started_.load()) return;
  {
    std::unique_lock lock(done_mu_);
    done_cv_.wait(lock, [this] { return done_; });
  }
  if (main_thread_.joinable() && main_thread_.get_id() != std::this_thread::get_id())
    main_thread_.join();
}

TimerId Server::run_after(std::chrono::nanoseconds delay, EventLoop::Task task) {
  return main_loop_->run_after(delay, std::move(task));
}

TimerId Server::run_every(std::chrono::nanoseconds interval, EventLoop::Task task) {
  return main_loop_->run_every(interval, std::move(task));
}

void Server::cancel(TimerId id) {
  main_loop_->cancel(id);
}

namespace {
Stats stats_of(const detail::Service& svc) {
  Stats s;
  uint64_t opened = 0, closed = 0;
  for (size_t i = 0; i < svc.counter_slots; ++i) {
    const detail::LoopCounters& c = svc.counters[i];
    s.accepted += c.accepted.get();
    s.refused += c.refused.get();
    s.accept_errors += c.accept_errors.get();
    opened += c.opened.get();
    for (size_t r = 0; r < s.closed.size(); ++r) {
      s.closed[r] += c.closed[r].get();
      closed += c.closed[r].get();
    }
    s.bytes_in += c.bytes_in.get();
    s.bytes_out += c.bytes_out.get();
    s.messages_in += c.messages_in.get();
    s.messages_out += c.messages_out.get();
    s.output_buffered += c.output_buffered.get();
    s.dials += c.dials.get();
    s.datagrams_in += c.datagrams_in.get();
    s.datagrams_out += c.datagrams_out.get();
    for (size_t r = 0; r < s.datagram_drops.size(); ++r) s.datagram_drops[r] += c.datagram_drops[r].get();
    for (size_t r = 0; r < s.dial_failures.size(); ++r) s.dial_failures[r] += c.dial_failed[r].get();
  }
  s.open = opened > closed ? opened - closed : 0;  // counters are read one by one
  return s;
}
}  // namespace

Stats Server::stats(size_t listener) const {
  return stats_of(*entry(listener).service);
}

// ---------------------------------------------------------------- dialing

size_t Server::add_dialer(Handler& handler, Options options, Protocol* protocol) {
  if (stop_requested_.load()) throw std::logic_error("add_dialer during a stop");
  if (options.transport || !options.tls.cert_file.empty())
    throw std::invalid_argument(label_of(options) +
                                "a dialer is plain TCP (TLS towards upstreams is not built yet)");
  auto entry = std::make_unique<ListenerEntry>();
  options.loops = options_.loops;
  if (options.write_low_water > options.write_high_water)
    options.write_low_water = options.write_high_water;
  if (!protocol) {
    entry->own_protocol = std::make_unique<RawProtocol>();
    protocol = entry->own_protocol.get();
  }
  entry->service = std::make_unique<detail::Service>(*protocol, handler, options, options_.loops);
  std::lock_guard lock(listeners_mu_);
  dialers_.push_back(std::move(entry));
  return dialers_.size() - 1;
}

size_t Server::dialer_count() const {
  std::lock_guard lock(listeners_mu_);
  return dialers_.size();
}

Stats Server::dialer_stats(size_t dialer) const {
  std::lock_guard lock(listeners_mu_);
  return stats_of(*dialers_.at(dialer)->service);
}

DialId Server::connect(size_t dialer, std::string address, ConnectOptions opts) {
  if (stopping_.load() || stop_requested_.load()) return 0;
  detail::Service* svc;
  {
    std::lock_guard lock(listeners_mu_);
    svc = dialers_.at(dialer)->service.get();
  }
  EventLoop* loop = opts.loop;
  if (loop && std::find(loop_ptrs_.begin(), loop_ptrs_.end(), loop) == loop_ptrs_.end())
    throw std::invalid_argument("Server::connect: ConnectOptions::loop is not a loop of this server");
  if (!loop)
    for (EventLoop* l : loop_ptrs_)
      if (l->in_loop_thread()) loop = l;
  if (!loop)  // (any thread: the cursor is atomic)
    loop = pick_loop(svc->options, loop_ptrs_, [this] { return next_dial_loop_.fetch_add(1); });
  size_t i = loop->index();
  DialId id = (next_dial_.fetch_add(1) << 16) | i;
  detail::DialTable* table = dial_tables_[i].get();
  // Queued, never run inside connect(): on_connect or on_connect_failed follows its return.
  loop->queue_in_loop([table, id, svc, address = std::move(address), opts = std::move(opts)]() mutable {
    table->begin(id, *svc, std::move(address), std::move(opts));
  });
  return id;
}

void Server::cancel_dial(DialId id) {
  size_t i = id & 0xffff;
  if (id == 0 || i >= loops_.size()) return;
  detail::DialTable* table = dial_tables_[i].get();
  loops_[i]->run_in_loop([table, id] { table->cancel(id); });
}

const char* to_string(DatagramDrop d) {
  switch (d) {
    case DatagramDrop::kDecodeError:
      return "decode_error";
    case DatagramDrop::kTruncated:
      return "truncated";
    case DatagramDrop::kPeerCap:
      return "peer_cap";
    case DatagramDrop::kSendError:
      return "send_error";
    case DatagramDrop::kCount:
      break;
  }
  return "unknown";
}

const char* to_string(CloseReason r) {
  switch (r) {
    case CloseReason::kPeerClosed:
      return "peer_closed";
    case CloseReason::kPeerReset:
      return "peer_reset";
    case CloseReason::kLocal:
      return "local";
    case CloseReason::kIdleTimeout:
      return "idle_timeout";
    case CloseReason::kSlowConsumer:
      return "slow_consumer";
    case CloseReason::kInputOverflow:
      return "input_overflow";
    case CloseReason::kDecodeError:
      return "decode_error";
    case CloseReason::kServerStop:
      return "server_stop";
    case CloseReason::kDrainTimeout:
      return "drain_timeout";
    case CloseReason::kTransportError:
      return "transport_error";
    case CloseReason::kCount:
      break;
  }
  return "unknown";
}

}  // namespace gev
