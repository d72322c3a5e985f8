// Server, outbound: dialers and Server::connect (the dials themselves are dialer.cc's).
#include <algorithm>
#include <stdexcept>

#include "dialer.h"
#include "server_internal.h"

namespace gev {

using detail::label_of;
using detail::pick_loop;
using detail::stats_of;

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

}  // namespace gev
