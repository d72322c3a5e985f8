// Limits: idle timeout, max connections, backpressure and the slow-consumer cap, and
// accept under an exhausted descriptor table.
#include <doctest/doctest.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <future>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test_client.h"
#include "test_handlers.h"

using namespace gev;
using namespace gev::test;

namespace {

// Floods a connection that asked for it from a repeating timer on its loop, and records
// the largest unsent backlog it ever saw.
class FloodHandler : public RecordingEcho {
 public:
  std::span<const uint8_t> on_message(Connection& c, const Frame& f) override {
    if (std::string_view(reinterpret_cast<const char*>(f.data.data()), f.data.size()) != "flood")
      return f.data;
    auto conn = c.shared_from_this();
    auto id = std::make_shared<TimerId>();
    *id = c.loop().run_every(std::chrono::milliseconds(1), [this, conn, id] {
      if (!conn->connected()) {
        conn->loop().cancel(*id);
        return;
      }
      for (int i = 0; i < 4; ++i) conn->send(chunk_);
      size_t pending = conn->write_buffer_size();
      if (pending > max_pending_.load()) max_pending_ = pending;
    });
    return {};
  }
  std::string chunk_ = random_bytes(64 << 10, 11);
  std::atomic<size_t> max_pending_{0};
};

double cpu_seconds(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(f, line);
  std::istringstream rest(line.substr(line.rfind(')') + 2));
  std::string field;
  unsigned long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoul(field);
    if (i == 15) stime = std::stoul(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace

TEST_CASE("idle timeout closes idle connections and spares active ones") {
  RecordingEcho handler;
  Options o = test_options(1);
  o.idle_timeout = std::chrono::milliseconds(200);
  Server server(handler, o);
  server.start();
  TestClient idle(server.port());
  TestClient active(server.port());
  REQUIRE(idle.echo("once") == "once");
  auto start = std::chrono::steady_clock::now();
  bool idle_closed = false;
  // Keep `active` talking every 50 ms for 600 ms: three idle periods.
  while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(600)) {
    REQUIRE(active.echo("tick") == "tick");
    pollfd p{idle.fd(), POLLIN, 0};
    if (::poll(&p, 1, 50) > 0) idle_closed = idle.wait_closed(10);
  }
  CHECK((idle_closed || idle.wait_closed(1000)));
  auto closed_after = std::chrono::steady_clock::now() - start;
  CHECK(closed_after >= std::chrono::milliseconds(190));
  CHECK(active.echo("still here") == "still here");
  CHECK(handler.closed_for(CloseReason::kIdleTimeout) == 1);
  CHECK(server.stats().open == 1);
}

TEST_CASE("max_connections refuses the connection over the limit, and recovers") {
  RecordingEcho handler;
  Options o = test_options(2);
  o.max_connections = 3;
  Server server(handler, o);
  server.start();
  std::vector<TestClient> ok(3);
  for (auto& c : ok) {
    REQUIRE(c.connect(server.port()));
    REQUIRE(c.echo("hi") == "hi");
  }
  TestClient extra(server.port());
  CHECK(extra.wait_closed(2000));  // accepted and closed at once
  CHECK(server.stats().refused == 1);
  CHECK(handler.connects() == 3);  // the refused one never reached the handler
  ok[0].close();
  REQUIRE(wait_until([&] { return server.stats().open == 2; }));
  TestClient again(server.port());
  CHECK(again.echo("back") == "back");
}

TEST_CASE("a peer that does not read pauses reading; nothing is lost when it reads") {
  for (size_t low_water : {size_t{64} << 10, size_t{0}}) {
    CAPTURE(low_water);
    RecordingEcho handler;
    Options o = test_options(1);
    o.write_high_water = 256 << 10;
    o.write_low_water = low_water;
    Server server(handler, o);
    server.start();
    TestClient c(server.port());
    // Push as much as the socket takes without reading any echo.
    std::string sent;
    std::string chunk = random_bytes(64 << 10, 2);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    int stalls = 0;
    while (stalls < 20 && std::chrono::steady_clock::now() < deadline) {
      ssize_t w = ::send(c.fd(), chunk.data(), chunk.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (w > 0) {
        sent.append(chunk, 0, static_cast<size_t>(w));
        stalls = 0;
      } else {
        ++stalls;  // the server stopped reading: our send buffer is full
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    REQUIRE(stalls >= 20);
    auto conn = handler.any_live();
    REQUIRE(conn);
    // The server holds at most the high-water mark plus one read, not everything sent.
    size_t pending = 0;
    std::promise<size_t> p;
    conn->loop().run_in_loop([&] { p.set_value(conn->write_buffer_size()); });
    pending = p.get_future().get();
    CHECK(pending <= o.write_high_water + EventLoop::kReadBufferSize);
    CHECK(server.stats().open == 1);  // paused, not closed
    // Now read everything: every byte comes back, in order, and reading resumes.
    std::string got = c.recv_exact(sent.size(), 20000);
    CHECK(got.size() == sent.size());
    CHECK(got == sent);
    CHECK(c.echo("after") == "after");  // reading resumed
  }
}

TEST_CASE("a consumer past the hard cap is closed; others are served meanwhile") {
  FloodHandler handler;
  Options o = test_options(1);
  o.write_high_water = 256 << 10;
  o.write_low_water = 64 << 10;
  o.max_write_buffer = 1 << 20;
  Server server(handler, o);
  server.start();
  TestClient slow(server.port());
  TestClient other(server.port());
  REQUIRE(slow.send_all("flood"));  // and never read
  for (int i = 0; i < 20 && handler.closed_for(CloseReason::kSlowConsumer) == 0; ++i) {
    CHECK(other.echo("ping " + std::to_string(i)) == "ping " + std::to_string(i));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(wait_until([&] { return handler.closed_for(CloseReason::kSlowConsumer) == 1; }));
  CHECK(handler.max_pending_.load() <= o.max_write_buffer);
  CHECK(slow.wait_closed(2000));
  CHECK(other.echo("still served") == "still served");
}

TEST_CASE("accept with no descriptors left does not spin, refuses cleanly, and recovers") {
  raise_fd_limit();
  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // Child: a server whose descriptor table is nearly full. SIGTERM ends it plainly
    // (doctest's handler, inherited from the parent, would report a crash).
    ::signal(SIGTERM, SIG_DFL);
    ::close(ready[0]);
    RecordingEcho handler;
    Server server(handler, test_options(1));
    server.start();
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    int probe = ::dup(0);
    rl.rlim_cur = static_cast<rlim_t>(probe + 3);  // room for about three connections
    ::close(probe);
    ::setrlimit(RLIMIT_NOFILE, &rl);
    uint16_t port = server.port();
    if (::write(ready[1], &port, sizeof port) != sizeof port) _exit(3);
    ::pause();  // until the parent's SIGTERM
    _exit(0);
  }
  ::close(ready[1]);
  uint16_t port = 0;
  REQUIRE(::read(ready[0], &port, sizeof port) == sizeof port);
  ::close(ready[0]);

  std::vector<TestClient> clients(20);
  for (auto& c : clients) REQUIRE(c.connect(port));  // the kernel completes every handshake
  int served = 0, refused = 0;
  for (auto& c : clients) {
    std::string got = c.echo("x", 1000);
    if (got == "x")
      ++served;
    else if (c.eof())
      ++refused;
  }
  CHECK(served >= 1);
  CHECK(refused >= 10);  // closed at once, not left hanging in the backlog
  CHECK(served + refused == 20);

  // While the table stays full and more peers knock, the server must not spin.
  std::vector<TestClient> knockers(20);
  for (auto& c : knockers) c.connect(port);
  double cpu0 = cpu_seconds(pid);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  double cpu = cpu_seconds(pid) - cpu0;
  CHECK(cpu < 0.2);  // a spinning acceptor would burn ~0.5 s here

  // Free the descriptors: new connections are served again.
  clients.clear();
  knockers.clear();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  TestClient after;
  bool recovered =
      wait_until([&] { return after.connect(port) && after.echo("back", 500) == "back"; }, 5000);
  CHECK(recovered);
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
}

TEST_CASE("Options::tls without the gev::tls library linked in is refused, saying what to link") {
  // This test binary links the core only: nothing registered a TLS maker.
  RecordingEcho handler;
  Options o;
  o.address = "127.0.0.1:0";
  o.loops = 1;
  o.name = "listener secure";
  o.tls.cert_file = "cert.pem";
  o.tls.key_file = "key.pem";
  Server server(o);
  try {
    server.add_listener(handler, o);
    FAIL("add_listener accepted Options::tls without gev::tls");
  } catch (const std::invalid_argument& e) {
    std::string what = e.what();
    CHECK(what.find("listener secure: Options::tls is set") != std::string::npos);
    CHECK(what.find("link gev::tls and include <gev/tls.h>") != std::string::npos);
  }
}
