// Client: outbound connections without a listener, in gev's style: the handler and
// protocol of a Server, loops of its own, and connect() in place of a listen address.
//
//   EchoCounter handler;                     // on_connect, on_message, on_close as usual
//   gev::Client client(handler);             // protocol defaults to raw bytes
//   client.start();
//   client.connect("127.0.0.1:1833");        // on_connect, or on_connect_failed
//
// A Server that also accepts dials with add_dialer() and Server::connect() instead.
#pragma once

#include "gev/server.h"

namespace gev {

class Client {
 public:
  // options: loops (0: one per CPU), the connections' limits and write marks,
  // idle_timeout, load_balance; handle_signals is off unless set here.
  explicit Client(Handler& handler, Options options = client_options(),
                  Protocol* protocol = nullptr)
      : server_(options), dialer_(server_.add_dialer(handler, options, protocol)) {}

  static Options client_options() {
    Options o;
    o.handle_signals = false;
    return o;
  }

  void start() { server_.start(); }
  // See Server::connect.
  DialId connect(std::string address, ConnectOptions opts = {}) {
    return server_.connect(dialer_, std::move(address), std::move(opts));
  }
  void cancel(DialId id) { server_.cancel_dial(id); }
  // Closes every connection gracefully (on_close for each) and joins the loops.
  void stop() {
    server_.stop();
    server_.wait();
  }
  Stats stats() const { return server_.dialer_stats(dialer_); }
  Server& server() { return server_; }

 private:
  Server server_;
  size_t dialer_;
};

}  // namespace gev
