// The whole read/decode/reply path over real loopback TCP: a gev::Server with one loop
// echoes what the benchmark thread sends. Per-iteration time is a round trip (two
// syscalls on each side plus wake-ups); compare sizes and depths, not absolute values.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <gev/log.h>
#include <gev/server.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <vector>

namespace {

class Echo : public gev::Handler {
 public:
  std::span<const uint8_t> on_message(gev::Connection&, const gev::Frame& f) override { return f.data; }
};

int connect_to(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) return -1;
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

bool read_n(int fd, uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t r = ::read(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

// range(0): message size; range(1): messages in flight (written together).
void BM_EchoRoundTrip(benchmark::State& state) {
  gev::set_log_level(gev::LogLevel::kWarn);
  Echo handler;
  gev::Options o;
  o.address = "127.0.0.1:0";
  o.loops = 1;
  o.handle_signals = false;
  gev::Server server(handler, o);
  server.start();
  int fd = connect_to(server.port());
  size_t size = static_cast<size_t>(state.range(0));
  size_t depth = static_cast<size_t>(state.range(1));
  std::vector<uint8_t> out(size * depth, 0x42), in(size * depth);
  for (auto _ : state) {
    if (::write(fd, out.data(), out.size()) != static_cast<ssize_t>(out.size()) ||
        !read_n(fd, in.data(), in.size())) {
      state.SkipWithError("echo failed");
      break;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * depth));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size * depth));
  ::close(fd);
  server.stop();
  server.wait();
}
BENCHMARK(BM_EchoRoundTrip)->Args({64, 1})->Args({512, 1})->Args({16384, 1})->Args({512, 8})->UseRealTime();

}  // namespace
