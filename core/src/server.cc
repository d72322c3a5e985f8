// Server: listening, handing connections to loops, and the graceful stop.
#include "gev/server.h"

#include <unistd.h>

#include <stdexcept>

#include "gev/log.h"
#include "listener.h"
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

Server::Server(Handler& handler, Options options, Protocol* protocol) {
  options.loops = resolve_loop_count(options.loops);
  if (options.write_low_water > options.write_high_water)
    options.write_low_water = options.write_high_water;
  if (!protocol) {
    own_protocol_ = std::make_unique<RawProtocol>();
    protocol = own_protocol_.get();
  }
  service_ = std::make_unique<detail::Service>(*protocol, handler, options, options.loops);
  for (size_t i = 0; i < options.loops; ++i) {
    loops_.push_back(std::make_unique<EventLoop>(i));
    loop_ptrs_.push_back(loops_.back().get());
  }
  main_loop_ = std::make_unique<EventLoop>(options.loops);
}

Server::~Server() {
  stop();
  wait();
}

const Options& Server::options() const {
  return service_->options;
}

void Server::listen() {
  try {
    open_listeners();
  } catch (...) {
    // Nothing runs yet: forget the attempt so the destructor does not wait for a stop.
    listeners_.clear();
    started_ = false;
    throw;
  }
}

void Server::open_listeners() {
  const Options& o = service_->options;
  std::optional<SocketAddress> addr = SocketAddress::parse(o.address);
  if (!addr) throw std::invalid_argument("gev: bad listen address '" + o.address + "'");
  if (!o.reuse_port) {
    int fd = detail::open_listen_socket(*addr, false, o.backlog);
    bound_ = SocketAddress::local_of(fd);
    EventLoop& ml = *main_loop_;
    listeners_.push_back(std::make_unique<detail::Listener>(
        ml, fd, service_->counters_for(ml.index()),
        [this, &ml](int cfd, const SocketAddress& peer) { on_accept(ml, cfd, peer); }));
  } else {
    // One socket per loop on the same port; the kernel spreads connections among them.
    SocketAddress at = *addr;
    for (EventLoop* loop : loop_ptrs_) {
      int fd = detail::open_listen_socket(at, true, o.backlog);
      if (listeners_.empty()) at = bound_ = SocketAddress::local_of(fd);
      listeners_.push_back(std::make_unique<detail::Listener>(
          *loop, fd, service_->counters_for(loop->index()),
          [this, loop](int cfd, const SocketAddress& peer) { on_accept(*loop, cfd, peer); }));
    }
  }
  for (size_t i = 0; i < listeners_.size(); ++i) {
    EventLoop& owner = o.reuse_port ? *loop_ptrs_[i] : *main_loop_;
    detail::Listener* l = listeners_[i].get();
    owner.queue_in_loop([l] { l->start(); });
  }
  GEV_INFO("listening on %s (%zu loops%s)", bound_.to_string().c_str(), o.loops,
           o.reuse_port ? ", SO_REUSEPORT" : "");
}

void Server::spawn_workers() {
  workers_running_ = loops_.size();
  for (auto& loop : loops_) threads_.emplace_back([l = loop.get()] { l->run(); });
}

void Server::start() {
  if (started_.exchange(true)) throw std::logic_error("gev: Server started twice");
  listen();
  spawn_workers();
  main_thread_ = std::thread([this] {
    main_loop_->run();
    finish();
  });
}

void Server::run() {
  if (started_.exchange(true)) throw std::logic_error("gev: Server started twice");
  listen();
  std::unique_ptr<detail::SignalWatcher> signals;
  if (service_->options.handle_signals) {
    try {
      signals = std::make_unique<detail::SignalWatcher>(*main_loop_, [this](int signo) {
        GEV_INFO("signal %d: stopping", signo);
        stop();
      });
    } catch (...) {
      listeners_.clear();
      started_ = false;
      throw;
    }
  }
  spawn_workers();
  main_loop_->run();
  signals.reset();
  finish();
}

void Server::on_accept(EventLoop& accepting, int fd, const SocketAddress& peer) {
  detail::Service& svc = *service_;
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
  EventLoop* loop = svc.options.reuse_port ? &accepting : choose_loop();
  loop->note_incoming();
  loop->run_in_loop([this, loop, fd, peer] {
    if (stopping_.load(std::memory_order_relaxed)) {  // the loop already drained
      ::close(fd);
      service_->live.fetch_sub(1, std::memory_order_relaxed);
      loop->note_gone();
      return;
    }
    std::make_shared<Connection>(*loop, *service_, fd, peer)->start();
  });
}

EventLoop* Server::choose_loop() {
  const Options& o = service_->options;
  switch (o.load_balance) {
    case LoadBalance::kLeastConnections: {
      EventLoop* best = loop_ptrs_[0];
      for (EventLoop* l : loop_ptrs_)
        if (l->connection_count() < best->connection_count()) best = l;
      return best;
    }
    case LoadBalance::kCustom:
      if (o.chooser) {
        if (EventLoop* l = o.chooser(loop_ptrs_)) return l;
      }
      [[fallthrough]];
    case LoadBalance::kRoundRobin:
      break;
  }
  EventLoop* l = loop_ptrs_[next_loop_];
  next_loop_ = (next_loop_ + 1) % loop_ptrs_.size();
  return l;
}

void Server::stop() {
  if (!started_.load() || stop_requested_.exchange(true)) return;
  main_loop_->run_in_loop([this] { begin_stop(); });
}

void Server::begin_stop() {
  GEV_INFO("stopping %s", bound_.to_string().c_str());
  int64_t deadline =
      main_loop_->now_ns() + std::chrono::nanoseconds(service_->options.stop_timeout).count();
  stopping_.store(true, std::memory_order_relaxed);
  if (!service_->options.reuse_port) listeners_[0]->stop();
  for (size_t i = 0; i < loops_.size(); ++i)
    loops_[i]->run_in_loop([this, i, deadline] { drain(i, deadline); });
}

void Server::drain(size_t i, int64_t deadline_ns) {
  EventLoop& loop = *loops_[i];
  if (service_->options.reuse_port) listeners_[i]->stop();
  loop.for_each_connection([](Connection& c) { c.close_after_flush(CloseReason::kServerStop); });
  if (loop.connection_count() == 0) {
    worker_done();
    loop.quit();
    return;
  }
  if (loop.now_ns() >= deadline_ns) {
    GEV_WARN("stop: %zu connections on loop %zu still had output at the deadline",
             loop.connection_count(), i);
    loop.for_each_connection([](Connection& c) { c.close_now(CloseReason::kServerStop); });
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
  listeners_.clear();
  GEV_INFO("stopped %s", bound_.to_string().c_str());
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

Stats Server::stats() const {
  Stats s;
  uint64_t opened = 0, closed = 0;
  for (size_t i = 0; i < service_->counter_slots; ++i) {
    const detail::LoopCounters& c = service_->counters[i];
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
  }
  s.open = opened > closed ? opened - closed : 0;  // counters are read one by one
  return s;
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
    case CloseReason::kCount:
      break;
  }
  return "unknown";
}

}  // namespace gev
