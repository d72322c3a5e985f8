// Internal to the server's files: what one listener (or dialer) is, and the helpers
// server.cc, server_listen.cc and server_dial.cc share.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "datagram_socket.h"
#include "gev/server.h"
#include "listener.h"
#include "service.h"

namespace gev {

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

namespace detail {

// "listener main: " for the log, or nothing for a listener without a name.
inline std::string label_of(const Options& options) {
  return options.name.empty() ? std::string() : options.name + ": ";
}
inline std::string label(const Service& service) {
  return label_of(service.options);
}

// The loop for a new connection by the options' load balance; `next` gives the
// round-robin cursor's next value, and is called only when round-robin decides.
template <class Next>
inline EventLoop* pick_loop(const Options& o, std::span<EventLoop* const> loops, Next next) {
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

// A listener's or dialer's counters, summed over its loops.
Stats stats_of(const Service& svc);

}  // namespace detail
}  // namespace gev
