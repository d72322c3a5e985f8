// Echo correctness: sizes from 1 B to 4 MiB, many connections, pipelining, and every
// accept mode (acceptor with round-robin / least-connections / custom chooser, reuseport).
#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "test_client.h"
#include "test_handlers.h"

using namespace gev;
using namespace gev::test;

namespace {

struct Mode {
  const char* name;
  bool reuse_port;
  LoadBalance balance;
};
const Mode kModes[] = {
    {"acceptor/round-robin", false, LoadBalance::kRoundRobin},
    {"acceptor/least-connections", false, LoadBalance::kLeastConnections},
    {"acceptor/custom", false, LoadBalance::kCustom},
    {"reuseport", true, LoadBalance::kRoundRobin},
};

Options mode_options(const Mode& m) {
  Options o = test_options(2);
  o.reuse_port = m.reuse_port;
  o.load_balance = m.balance;
  if (m.balance == LoadBalance::kCustom)
    o.chooser = [](std::span<EventLoop* const> loops) { return loops.back(); };
  return o;
}

}  // namespace

TEST_CASE("echo returns every byte, 1 B to 4 MiB, in every accept mode") {
  raise_fd_limit();
  for (const Mode& m : kModes) {
    CAPTURE(m.name);
    size_t fds = open_fd_count();
    {
      RecordingEcho handler;
      Server server(handler, mode_options(m));
      server.start();
      TestClient c(server.port());
      REQUIRE(c.fd() >= 0);
      for (size_t size : {size_t{1}, size_t{100}, size_t{4096}, size_t{65535}, size_t{65536},
                          size_t{65537}, size_t{1} << 20, size_t{4} << 20}) {
        CAPTURE(size);
        std::string data = random_bytes(size, static_cast<uint32_t>(size));
        CHECK(c.echo(data) == data);
      }
      c.close();
      REQUIRE(wait_until([&] { return handler.closes() == 1; }));
      CHECK(handler.closed_for(CloseReason::kPeerClosed) == 1);
    }
    CHECK(open_fd_count() == fds);  // the server left no descriptor behind
  }
}

TEST_CASE("1000 concurrent connections each get their own echo") {
  raise_fd_limit();
  for (const Mode& m : kModes) {
    CAPTURE(m.name);
    RecordingEcho handler;
    Server server(handler, mode_options(m));
    server.start();
    std::vector<TestClient> clients(1000);
    for (auto& c : clients) REQUIRE(c.connect(server.port()));
    for (size_t i = 0; i < clients.size(); ++i)
      REQUIRE(clients[i].send_all("hello " + std::to_string(i)));
    for (size_t i = 0; i < clients.size(); ++i) {
      std::string want = "hello " + std::to_string(i);
      REQUIRE(clients[i].recv_exact(want.size()) == want);
    }
    CHECK(server.stats().open == 1000);
    if (m.balance == LoadBalance::kCustom) {
      CHECK(server.loops().back()->connection_count() == 1000);
    } else {
      // Both loops carry a share (round-robin and least-connections split evenly).
      for (EventLoop* l : server.loops()) CHECK(l->connection_count() > (m.reuse_port ? 0u : 400u));
    }
    clients.clear();
    REQUIRE(wait_until([&] { return handler.closes() == 1000; }));
    CHECK(handler.connects() == 1000);
    CHECK(handler.double_closes() == 0);
    CHECK(server.stats().open == 0);
  }
}

TEST_CASE("pipelined requests come back complete and in order") {
  RecordingEcho handler;
  Server server(handler, test_options(1));
  server.start();
  TestClient c(server.port());
  std::string all;
  for (int i = 0; i < 2000; ++i) all += "request-" + std::to_string(i) + ";";
  REQUIRE(c.send_all(all));  // one burst: many requests per read on the server
  CHECK(c.recv_exact(all.size()) == all);
  // The loop counts what it wrote after write() returns: the client may have read it
  // all first (seen under ASan on a busy machine), so wait for the count.
  CHECK(wait_until([&] { return server.stats().bytes_out == all.size(); }, 5000));
  Stats s = server.stats();
  CHECK(s.bytes_in == all.size());
  CHECK(s.bytes_out == all.size());
}

TEST_CASE("a busy or malformed address throws from start(), and the server is still destructible") {
  RecordingEcho handler;
  Server first(handler, test_options(1));
  first.start();
  Options o = test_options(1);
  o.address = "127.0.0.1:" + std::to_string(first.port());
  {
    Server second(handler, o);
    CHECK_THROWS_AS(second.start(), std::system_error);
  }
  o.address = "not-an-address";
  {
    Server third(handler, o);
    CHECK_THROWS_AS(third.start(), std::invalid_argument);
  }
  TestClient c(first.port());
  CHECK(c.echo("first still serves") == "first still serves");
}

TEST_CASE("several listeners share one set of loops, each with its own protocol and limits") {
  RecordingEcho echo;
  RecordingEcho second;
  Options base = test_options(2);
  Server server(base);
  size_t a = server.add_listener(echo, base);
  Options limited = base;
  limited.max_connections = 1;
  limited.reuse_port = true;
  size_t b = server.add_listener(second, limited);
  server.start();
  REQUIRE(server.listener_count() == 2);
  CHECK(server.port(a) != server.port(b));
  TestClient ca(server.port(a));
  TestClient cb(server.port(b));
  CHECK(ca.echo("to a") == "to a");
  CHECK(cb.echo("to b") == "to b");
  TestClient cb2(server.port(b));
  CHECK(cb2.wait_closed(2000));  // b's own limit; a is unaffected
  TestClient ca2(server.port(a));
  CHECK(ca2.echo("a again") == "a again");
  CHECK(server.stats(a).accepted == 2);
  CHECK(server.stats(b).accepted == 1);
  CHECK(server.stats(b).refused == 1);
  CHECK(echo.connects() == 2);
  CHECK(second.connects() == 1);
  server.stop();
  server.wait();
  CHECK(echo.closes() == 2);
  CHECK(second.closes() == 1);
}

TEST_CASE("listeners added and removed while the server runs, in both accept modes") {
  for (bool reuse_port : {false, true}) {
    CAPTURE(reuse_port);
    size_t fds = open_fd_count();
    {
      RecordingEcho first, second;
      std::atomic<int> done{0};  // outlives the server, which may call `done` late
      Options o = test_options(2);
      o.reuse_port = reuse_port;
      Server server(first, o);
      server.start();
      TestClient a(server.port(0));
      CHECK(a.echo("one") == "one");
      // Added while running: bound at once, accepting at once.
      size_t added = server.add_listener(second, o);
      CHECK(server.listener_count() == 2);
      TestClient b(server.port(added));
      CHECK(b.echo("two") == "two");
      // Paused: bound (connections queue in the backlog) but not accepted until started.
      size_t paused = server.add_listener_paused(second, o);
      TestClient queued(server.port(paused));
      REQUIRE(queued.send_all("three"));
      CHECK(queued.recv_exact(5, 300).empty());
      server.start_listener(paused);
      CHECK(queued.recv_exact(5, 5000) == "three");
      // Removed: the socket closes, its connections are served on, `done` runs once.
      uint16_t port = server.port(0);
      server.remove_listener(0, [&] { done++; });
      CHECK(wait_until([&] { return done.load() == 1; }));
      CHECK_FALSE(TestClient().connect(port));
      CHECK(a.echo("still served") == "still served");
      CHECK(server.open_connections() == 3);
    }
    CHECK(open_fd_count() == fds);
  }
}
