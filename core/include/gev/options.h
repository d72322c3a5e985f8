// Options: gev's server options plus limits. Every size is in bytes.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "gev/tls_settings.h"
#include "gev/transport.h"

namespace gev {

class EventLoop;

enum class LoadBalance { kRoundRobin, kLeastConnections, kCustom };

// What a listener serves: TCP connections, or UDP datagrams (each datagram one frame; each
// peer address a light connection that expires after idle_timeout).
enum class Network { kTcp, kUdp };

// Picks the loop for a new connection (gev's LoadBalance). Called on the acceptor thread.
using LoopChooser = std::function<EventLoop*(std::span<EventLoop* const> loops)>;

struct Options {
  std::string address = "127.0.0.1:1833";  // host:port; port 0 picks a free one
  // An already-listening TCP socket to serve instead of binding `address` (systemd
  // socket activation, a hand-off from another process). The server owns it from
  // start() on. With reuse_port the one socket is still served from the acceptor loop.
  int listen_fd = -1;
  Network network = Network::kTcp;
  // kUdp: already-bound datagram sockets to serve instead of binding `address` (a hand-off
  // passes every socket of a SO_REUSEPORT group; listen_fd counts as one more). Loops
  // take them in turn; with fewer sockets than loops, more join the group if it has
  // SO_REUSEPORT. The server owns them from start() on.
  std::vector<int> listen_fds;
  // kUdp: the longest datagram read; a longer one is dropped (counted as truncated).
  // Each loop's socket holds 32 buffers of this size (pages untouched cost nothing).
  size_t max_datagram = 65535;
  std::string name;  // what the log calls this listener ("listener main", "admin"); may be empty
  // TLS for this listener when tls.cert_file is set (and transport is not): needs the
  // gev::tls library linked and <gev/tls.h> included; add_listener throws a bad file or
  // setting, naming the file and the reason.
  TlsSettings tls;
  // Under the protocol of every connection (TLS: gev/tls.h); null: plain TCP.
  std::shared_ptr<TransportFactory> transport;
  // With a transport: a connection whose handshake has not finished by then is closed
  // (transport_error). 0: no deadline of its own.
  std::chrono::milliseconds handshake_timeout{10000};
  size_t loops = 0;         // 0: one per CPU
  bool reuse_port = false;  // a listen socket per loop, kernel balances
  int backlog = 1024;
  LoadBalance load_balance = LoadBalance::kRoundRobin;
  LoopChooser chooser;  // with kCustom

  // 0: never (a UDP listener: 30 s, a peer must expire); measured from the last I/O.
  std::chrono::milliseconds idle_timeout{0};
  // 0: unlimited; above it accept and close (UDP: a new peer's datagram is dropped).
  size_t max_connections = 0;

  size_t max_read_buffer = 64u << 20;   // undecoded input held per connection
  size_t write_high_water = 4u << 20;   // pause reading above this much unsent output
  size_t write_low_water = 1u << 20;    // resume reading below this
  size_t max_write_buffer = 64u << 20;  // close a consumer this far behind

  std::chrono::milliseconds close_timeout{10000};  // close(): output drain allowance; 0: none
  std::chrono::milliseconds stop_timeout{5000};    // output drain allowance on stop()
  // stop(): the stop hook runs at once, but listeners keep accepting this long before the
  // graceful stop (a load balancer's health check sees the stop and moves away first).
  std::chrono::milliseconds stop_delay{0};
  bool handle_signals = true;                      // run(): SIGINT/SIGTERM stop the server
};

}  // namespace gev
