// embed_echo: gev's echo example with the core embedded as a library.
//   embed_echo --port 1833 --loops 4      then: nc 127.0.0.1 1833
#include <gev/flags.h>
#include <gev/server.h>

namespace {

class EchoHandler : public gev::Handler {
 public:
  std::span<const uint8_t> on_message(gev::Connection&, const gev::Frame& frame) override {
    return frame.data;  // the reply: a view of the input, sent without a copy
  }
};

}  // namespace

int main(int argc, char** argv) {
  gev::Options options;  // 127.0.0.1:1833, one loop per CPU
  if (!gev::parse_flags(argc, argv, options)) return 2;
  EchoHandler handler;
  gev::Server server(handler, options);
  server.run();  // until SIGINT or SIGTERM
  return 0;
}
