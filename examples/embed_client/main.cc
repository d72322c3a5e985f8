// embed_client: a pipelined echo client on gev::Client: N connections keep DEPTH messages of
// SIZE bytes in flight until COUNT came back, checking every byte.   usage below
#include <gev/client.h>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <string>

struct Pipeliner : gev::Handler {
  std::string msg;
  size_t conns = 4, depth = 8, count = 10000;
  std::atomic<size_t> ok{0}, failed{0};
  std::promise<void> all;
  void finish_one(bool good) {
    if ((good ? ++ok + failed : ++failed + ok) == conns) all.set_value();
  }
  void on_connect(gev::Connection& c) override {
    c.context() = size_t{0};  // bytes echoed so far
    for (size_t i = 0; i < depth; ++i) c.send(msg);
  }
  std::span<const uint8_t> on_message(gev::Connection& c, const gev::Frame& f) override {
    size_t& got = std::any_cast<size_t&>(c.context());
    for (size_t i = 0; i < f.data.size(); ++i)
      if (f.data[i] != static_cast<uint8_t>(msg[(got + i) % msg.size()])) c.close();
    size_t whole = got / msg.size();
    got += f.data.size();
    for (; whole < got / msg.size(); ++whole)  // one reply is back: one more goes out
      if (whole + depth < count) c.send(msg);
    if (got == count * msg.size()) c.close();
    return {};
  }
  void on_close(gev::Connection& c) override {
    finish_one(std::any_cast<size_t&>(c.context()) == count * msg.size());
  }
  void on_connect_failed(const gev::DialFailure& f) override {
    std::fprintf(stderr, "%s: %s\n", f.address.c_str(), gev::to_string(f.reason));
    finish_one(false);
  }
};

int main(int argc, char** argv) {
  if (argc < 2) return std::fprintf(stderr, "usage: embed_client HOST:PORT [N DEPTH SIZE COUNT]\n"), 2;
  auto arg = [&](int i, size_t d) { return argc > i ? std::strtoul(argv[i], nullptr, 10) : d; };
  Pipeliner h;
  h.conns = arg(2, 4), h.count = arg(5, 10000), h.depth = std::min(arg(3, 8), h.count);
  h.msg.resize(arg(4, 512));
  for (size_t i = 0; i < h.msg.size(); ++i) h.msg[i] = static_cast<char>('a' + i % 26);
  gev::Options o = gev::Client::client_options(); o.loops = 1;
  gev::Client client(h, o);
  client.start();
  auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < h.conns; ++i) client.connect(argv[1]);
  h.all.get_future().wait();
  std::chrono::duration<double> s = std::chrono::steady_clock::now() - t0;
  std::printf("%zu connections ok, %zu failed, %.0f msgs/s\n", h.ok.load(), h.failed.load(),
              static_cast<double>(h.ok * h.count) / s.count());
  client.stop();
  return h.failed ? 1 : 0;
}
