// counting_echo: gev's core embedded from an installed package (find_package(gev)).
// Replies to each read with "<n>: " and the bytes, n counting the connection's reads.
//   counting_echo --address 127.0.0.1:1833      then: nc 127.0.0.1 1833
#include <gev/flags.h>
#include <gev/server.h>

#include <any>
#include <string>

namespace {

class CountingEcho : public gev::Handler {
 public:
  void on_connect(gev::Connection& c) override { c.context() = 0; }
  std::span<const uint8_t> on_message(gev::Connection& c, const gev::Frame& frame) override {
    int& n = std::any_cast<int&>(c.context());
    std::string reply = std::to_string(++n) + ": ";
    reply.append(reinterpret_cast<const char*>(frame.data.data()), frame.data.size());
    c.send(reply);  // copied: `reply` may go once send returns
    return {};
  }
};

}  // namespace

int main(int argc, char** argv) {
  gev::Options options;
  if (!gev::parse_flags(argc, argv, options)) return 2;
  CountingEcho handler;
  gev::Server server(handler, options);
  server.run();  // until SIGINT or SIGTERM
}
