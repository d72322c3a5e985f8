// Server: the loops, starting and running, the graceful stop and the drain. Listeners are
// server_listen.cc's, dialers server_dial.cc's.
#include "gev/server.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <stdexcept>

#include "dialer.h"
#include "gev/log.h"
#include "resolver.h"
#include "server_internal.h"
#include "signal_watcher.h"

namespace gev {

using detail::label;

namespace {
size_t resolve_loop_count(size_t n) {
  if (n > 0) return n;
  unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? hw : 1;
}
constexpr auto kDrainPoll = std::chrono::milliseconds(10);
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

Stats Server::stats(size_t listener) const {
  return detail::stats_of(*entry(listener).service);
}

}  // namespace gev
