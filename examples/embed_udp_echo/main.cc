// embed_udp_echo: the echo over UDP with the core embedded. Each datagram is one frame
// and its reply one datagram back to the sender; each sender is a light connection
// (on_connect, then on_close once it has been quiet for --idle-timeout, default 30 s).
//   embed_udp_echo --port 1833 --loops 2      then: nc -u 127.0.0.1 1833
#include <gev/flags.h>
#include <gev/log.h>
#include <gev/server.h>

namespace {

class EchoHandler : public gev::Handler {
 public:
  void on_connect(gev::Connection& c) override {
    GEV_INFO("peer %s: first datagram", c.peer_address().to_string().c_str());
  }
  std::span<const uint8_t> on_message(gev::Connection&, const gev::Frame& frame) override {
    return frame.data;  // one datagram back, to this peer only
  }
  void on_close(gev::Connection& c) override {
    GEV_INFO("peer %s: gone (%s)", c.peer_address().to_string().c_str(),
             gev::to_string(c.close_reason()));
  }
};

}  // namespace

int main(int argc, char** argv) {
  gev::Options options;  // 127.0.0.1:1833, one loop (and one socket) per CPU
  options.network = gev::Network::kUdp;
  if (!gev::parse_flags(argc, argv, options)) return 2;
  EchoHandler handler;
  gev::Server server(handler, options);
  server.run();  // until SIGINT or SIGTERM
  return 0;
}
