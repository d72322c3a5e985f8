// Dialing: Server::connect's outbound connections (success, refusal, timeout, name
// resolution, reconnect with backoff, the stop), and Connection::couple's flow coupling
// between an accepted and a dialed connection (a proxy's two sides).
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <thread>
#include <vector>

#include "test_client.h"
#include "test_handlers.h"

using namespace gev;
using namespace gev::test;
using namespace std::chrono_literals;

namespace {

// Echo handler that also records dial failures and whether connections were outbound.
class DialRecorder : public RecordingEcho {
 public:
  void on_connect(Connection& c) override {
    if (c.outbound()) outbound_.fetch_add(1);
    if (const int* tag = std::any_cast<int>(&c.context())) tag_ = *tag;
    RecordingEcho::on_connect(c);
  }
  void on_connect_failed(const DialFailure& f) override {
    std::lock_guard lock(mu_);
    failures_.push_back({f.reason, f.error, f.will_retry});
    if (const int* tag = std::any_cast<int>(&f.context)) tag_ = *tag;
  }
  struct Failure {
    DialError reason;
    int error;
    bool will_retry;
  };
  std::vector<Failure> failures() {
    std::lock_guard lock(mu_);
    return failures_;
  }
  std::atomic<int> outbound_{0};
  std::atomic<int> tag_{0};

 private:
  std::vector<Failure> failures_;
};

// A listening socket on 127.0.0.1 that the test owns (accepts only when asked).
struct RawListener {
  explicit RawListener(int backlog = 16) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd, backlog) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~RawListener() {
    if (fd >= 0) ::close(fd);
  }
  int accept_one() { return ::accept(fd, nullptr, nullptr); }
  int fd;
  uint16_t port;
};

uint16_t closed_port() {
  RawListener l;
  return l.port;  // nothing listens once it is gone
}

std::string at(uint16_t port) {
  return "127.0.0.1:" + std::to_string(port);
}

}  // namespace

TEST_CASE("a dial connects on a loop and is an ordinary, outbound connection") {
  RecordingEcho echo;
  Server server(echo, test_options(2));
  DialRecorder out;
  size_t dialer = server.add_dialer(out, test_options(2));
  server.start();
  ConnectOptions co;
  co.context = 42;
  DialId id = server.connect(dialer, at(server.port()), co);
  CHECK(id != 0);
  REQUIRE(wait_until([&] { return out.connects() == 1 && echo.connects() == 1; }));
  CHECK(out.outbound_ == 1);
  CHECK(out.tag_ == 42);  // the context reached on_connect
  auto c = out.any_live();
  REQUIRE(c);
  CHECK(c->outbound());
  // Both directions: the dialed side sends, the listener echoes, the dialer's echo
  // handler echoes back... so send once and see messages flow on both sides.
  c->loop().run_in_loop([c] { c->send("ping"); });
  REQUIRE(wait_until([&] { return out.messages_ >= 3 && echo.messages_ >= 3; }));
  c->loop().run_in_loop([c] { c->close(); });
  REQUIRE(wait_until([&] { return out.closes() == 1 && echo.closes() == 1; }));
  CHECK(out.double_closes() == 0);
  Stats s = server.dialer_stats(dialer);
  CHECK(s.dials == 1);
  CHECK(s.closed[static_cast<size_t>(CloseReason::kLocal)] == 1);
  CHECK(s.bytes_out >= 4);
  CHECK(out.failures().empty());
  server.stop();
  server.wait();
}

TEST_CASE("a dial to a closed port fails with kRefused, and no on_connect follows") {
  DialRecorder out;
  Server server(test_options(1));
  size_t dialer = server.add_dialer(out, test_options(1));
  server.start();
  ConnectOptions co;
  co.context = 7;
  server.connect(dialer, at(closed_port()), co);
  REQUIRE(wait_until([&] { return out.failures().size() == 1; }));
  auto f = out.failures()[0];
  CHECK(f.reason == DialError::kRefused);
  CHECK(f.error == ECONNREFUSED);
  CHECK_FALSE(f.will_retry);
  CHECK(out.tag_ == 7);  // the context reached on_connect_failed
  std::this_thread::sleep_for(50ms);
  CHECK(out.connects() == 0);
  CHECK(server.dialer_stats(dialer).dial_failures[static_cast<size_t>(DialError::kRefused)] == 1);
  server.stop();
  server.wait();
}

TEST_CASE("a dial that gets no answer times out (a listener whose backlog is full)") {
  // Linux queues backlog + 1 connections; SYNs beyond that are dropped, unanswered.
  RawListener full(0);
  std::vector<int> fillers;
  for (int i = 0; i < 4; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(full.port);
    ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    fillers.push_back(fd);
  }
  std::this_thread::sleep_for(100ms);
  DialRecorder out;
  Server server(test_options(1));
  size_t dialer = server.add_dialer(out, test_options(1));
  server.start();
  ConnectOptions co;
  co.timeout = 300ms;
  server.connect(dialer, at(full.port), co);
  REQUIRE(wait_until([&] { return out.failures().size() == 1; }, 10000));
  CHECK(out.failures()[0].reason == DialError::kTimedOut);
  CHECK(out.connects() == 0);
  server.stop();
  server.wait();
  for (int fd : fillers) ::close(fd);
}

TEST_CASE("a host name is resolved off the loop; each of its addresses is tried") {
  RecordingEcho echo;
  Server server(echo, test_options(1));  // 127.0.0.1 only: localhost's ::1 is refused
  DialRecorder out;
  size_t dialer = server.add_dialer(out, test_options(1));
  server.start();
  server.connect(dialer, "localhost:" + std::to_string(server.port()));
  REQUIRE(wait_until([&] { return out.connects() == 1; }, 10000));
  CHECK(echo.connects() == 1);
  CHECK(out.failures().empty());
  // Malformed: no lookup at all.
  server.connect(dialer, "localhost");
  server.connect(dialer, "::1:80");
  REQUIRE(wait_until([&] { return out.failures().size() == 2; }));
  for (auto& f : out.failures()) CHECK(f.reason == DialError::kResolveFailed);
  server.stop();
  server.wait();
}

TEST_CASE("reconnect: failures retry with backoff, a closed connection is redialled, cancel ends it") {
  DialRecorder out;
  Server server(test_options(1));
  size_t dialer = server.add_dialer(out, test_options(1));
  server.start();
  ConnectOptions co;
  co.reconnect = true;
  co.reconnect_min = 10ms;
  co.reconnect_max = 40ms;
  DialId id = server.connect(dialer, at(closed_port()), co);
  REQUIRE(wait_until([&] { return out.failures().size() >= 4; }));
  for (auto& f : out.failures()) CHECK(f.will_retry);
  server.cancel_dial(id);
  REQUIRE(wait_until([&] {
    auto fs = out.failures();
    return !fs.empty() && fs.back().reason == DialError::kCancelled;
  }));
  CHECK_FALSE(out.failures().back().will_retry);
  size_t n = out.failures().size();
  std::this_thread::sleep_for(150ms);
  CHECK(out.failures().size() == n);  // nothing after the cancel

  // Established, then closed by the peer: dialled again.
  RawListener up;
  DialId id2 = server.connect(dialer, at(up.port), co);
  REQUIRE(wait_until([&] { return out.connects() == 1; }));
  int a = up.accept_one();
  REQUIRE(a >= 0);
  ::close(a);
  REQUIRE(wait_until([&] { return out.connects() == 2; }));
  server.cancel_dial(id2);  // the open one stays, but is not redialled
  std::this_thread::sleep_for(50ms);
  CHECK(out.live() == 1);
  a = up.accept_one();
  ::close(a);
  REQUIRE(wait_until([&] { return out.closes() == 2; }));
  std::this_thread::sleep_for(150ms);
  CHECK(out.connects() == 2);
  server.stop();
  server.wait();
}

TEST_CASE("the stop cancels dials in progress and refuses new ones") {
  DialRecorder out;
  Server server(test_options(1));
  size_t dialer = server.add_dialer(out, test_options(1));
  server.start();
  ConnectOptions co;
  co.reconnect = true;
  co.reconnect_min = 10s;  // waiting for its retry when the stop comes
  server.connect(dialer, at(closed_port()), co);
  REQUIRE(wait_until([&] { return out.failures().size() == 1; }));
  server.stop();
  server.wait();
  auto fs = out.failures();
  REQUIRE(fs.size() == 2);
  CHECK(fs[1].reason == DialError::kCancelled);
  CHECK_FALSE(fs[1].will_retry);
  CHECK(server.connect(dialer, at(closed_port())) == 0);
}

namespace {
// A one-way forwarder: what a client sends to the listener goes to a dialed upstream,
// the two coupled. The upstream is a raw socket the test reads (or does not).
class Forwarder : public Handler {
 public:
  Server* server = nullptr;
  size_t dialer = 0;
  uint16_t upstream = 0;
  size_t high = 256 << 10;
  std::shared_ptr<Connection> client, up;
  std::atomic<bool> ready{false};
  std::atomic<size_t> max_up_buffer{0};

  void on_connect(Connection& c) override {
    if (c.outbound()) {
      up = c.shared_from_this();
      c.couple(*client, high, high / 4);
      ready = true;
      client->resume_reading();
      return;
    }
    client = c.shared_from_this();
    c.pause_reading();  // until the upstream is there
    ConnectOptions co;
    co.loop = &c.loop();
    server->connect(dialer, "127.0.0.1:" + std::to_string(upstream), co);
  }
  std::span<const uint8_t> on_message(Connection& c, const Frame& f) override {
    if (!c.outbound() && up) {
      up->send(f.data);
      size_t b = up->write_buffer_size();
      if (b > max_up_buffer) max_up_buffer = b;
    }
    return {};
  }
};
}  // namespace

TEST_CASE("couple: an upstream that does not read pauses the client; reading resumes it") {
  RawListener upstream;
  Forwarder fw;
  Options o = test_options(1);
  o.write_high_water = 64u << 20;  // the coupling, not backpressure, must hold it
  o.max_write_buffer = 256u << 20;
  Server server(fw, o);
  size_t dialer = server.add_dialer(fw, o);
  fw.server = &server;
  fw.dialer = dialer;
  fw.upstream = upstream.port;
  server.start();
  TestClient client(server.port());
  REQUIRE(wait_until([&] { return fw.ready.load(); }));
  int up = upstream.accept_one();
  REQUIRE(up >= 0);
  // 32 MiB towards an upstream that reads nothing: the client's writes must stall, and
  // the proxy's buffer stay near the high mark rather than take it all.
  std::string data = random_bytes(32 << 20, 5);
  std::atomic<bool> sent{false};
  std::thread writer([&] {
    client.send_all(data);
    sent = true;
  });
  std::this_thread::sleep_for(500ms);
  CHECK_FALSE(sent.load());
  CHECK(fw.max_up_buffer.load() < fw.high + (1u << 20));
  // Now read everything at the upstream: all of it arrives, in order.
  std::string got;
  got.reserve(data.size());
  std::vector<char> buf(1 << 16);
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (got.size() < data.size() && std::chrono::steady_clock::now() < deadline) {
    ssize_t n = ::recv(up, buf.data(), buf.size(), 0);
    if (n <= 0) break;
    got.append(buf.data(), static_cast<size_t>(n));
  }
  writer.join();
  CHECK(sent.load());
  CHECK(got.size() == data.size());
  CHECK(got == data);
  ::close(up);
  server.stop();
  server.wait();
}
