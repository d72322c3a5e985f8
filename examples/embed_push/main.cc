// embed_push: gev's pushmessage example. Every second the server pushes a line to every
// connected client (run_every on the server), and echoes whatever clients send.
//   embed_push --port 1833 --interval-ms 1000
#include <gev/flags.h>
#include <gev/server.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace {

class PushHandler : public gev::Handler {
 public:
  void on_connect(gev::Connection& c) override {
    std::lock_guard lock(mu_);
    conns_[c.id()] = c.shared_from_this();
  }
  std::span<const uint8_t> on_message(gev::Connection&, const gev::Frame& frame) override {
    return frame.data;
  }
  void on_close(gev::Connection& c) override {
    std::lock_guard lock(mu_);
    conns_.erase(c.id());
  }
  // Runs on the server's timer loop; send() is thread-safe and queues to each owner loop.
  void push_all() {
    std::string msg = "push " + std::to_string(++tick_) + "\n";
    std::lock_guard lock(mu_);
    for (auto& [id, conn] : conns_) conn->send(msg);
  }

 private:
  std::mutex mu_;  // on_connect/on_close come from every loop
  std::unordered_map<uint64_t, std::shared_ptr<gev::Connection>> conns_;
  uint64_t tick_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  long interval_ms = 1000;
  // Take our own flag out before gev's parser sees the rest.
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--interval-ms") == 0 && i + 1 < argc)
      interval_ms = std::atol(argv[++i]);
    else
      argv[out++] = argv[i];
  }
  gev::Options options;
  if (!gev::parse_flags(out, argv, options)) return 2;
  PushHandler handler;
  gev::Server server(handler, options);
  server.run_every(std::chrono::milliseconds(interval_ms), [&handler] { handler.push_all(); });
  server.run();
  return 0;
}
