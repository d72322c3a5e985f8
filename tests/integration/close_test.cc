// Closing: peer half-close, reset mid-stream, close and shutdown_write from a handler,
// and the graceful stop (on_close exactly once per on_connect, no descriptor left).
#include <doctest/doctest.h>

#include <future>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "test_client.h"
#include "test_handlers.h"

using namespace gev;
using namespace gev::test;

namespace {

// Replies to "big" with 2 MiB and closes; to "bye" with "ok" and shuts down writing.
class CloserHandler : public RecordingEcho {
 public:
  std::span<const uint8_t> on_message(Connection& c, const Frame& f) override {
    std::string_view text(reinterpret_cast<const char*>(f.data.data()), f.data.size());
    if (text == "big") {
      c.send(big_);
      c.close();
      return {};
    }
    if (text == "flood") {
      c.send(random_bytes(32 << 20, 9));  // far more than the kernel buffers take
      return {};
    }
    if (text == "bye") {
      c.send("ok");
      c.shutdown_write();
      return {};
    }
    return f.data;
  }
  std::string big_ = random_bytes(2 << 20, 7);
};

}  // namespace

TEST_CASE("a peer's half-close still gets every reply, then EOF") {
  RecordingEcho handler;
  Server server(handler, test_options(1));
  server.start();
  TestClient c(server.port());
  std::string data = random_bytes(1 << 20, 3);
  // Send all, then FIN; the echo must still arrive in full before the server closes.
  std::thread writer([&] {
    c.send_all(data);
    c.shutdown_write();
  });
  std::string got = c.recv_until_eof(10000);
  writer.join();
  CHECK(got.size() == data.size());
  CHECK(got == data);
  CHECK(c.eof());
  REQUIRE(wait_until([&] { return handler.closes() == 1; }));
  CHECK(handler.closed_for(CloseReason::kPeerClosed) == 1);
}

TEST_CASE("a reset mid-stream closes only that connection") {
  RecordingEcho handler;
  Server server(handler, test_options(1));
  server.start();
  TestClient good(server.port());
  TestClient bad(server.port());
  REQUIRE(good.echo("before") == "before");
  REQUIRE(bad.send_all(random_bytes(300000, 1)));  // unread echoes pile up on the server
  bad.reset();
  REQUIRE(wait_until([&] { return handler.closes() == 1; }));
  CHECK(handler.closed_for(CloseReason::kPeerReset) == 1);
  CHECK(good.echo("after") == "after");
  CHECK(server.stats().open == 1);
}

TEST_CASE("close() from a handler flushes pending output first") {
  CloserHandler handler;
  Server server(handler, test_options(1));
  server.start();
  TestClient c(server.port());
  REQUIRE(c.send_all("big"));
  std::string got = c.recv_until_eof(10000);
  CHECK(got == handler.big_);
  CHECK(c.eof());
  REQUIRE(wait_until([&] { return handler.closes() == 1; }));
  CHECK(handler.closed_for(CloseReason::kLocal) == 1);
}

TEST_CASE("shutdown_write() sends what is pending, then FIN, and keeps reading") {
  CloserHandler handler;
  Server server(handler, test_options(1));
  server.start();
  TestClient c(server.port());
  REQUIRE(c.send_all("bye"));
  CHECK(c.recv_until_eof(5000) == "ok");
  CHECK(c.eof());
  CHECK(handler.closes() == 0);  // the read side is still open on the server
  c.close();
  REQUIRE(wait_until([&] { return handler.closes() == 1; }));
}

TEST_CASE("graceful stop closes every connection once and leaves no descriptor") {
  size_t fds = open_fd_count();
  RecordingEcho handler;
  std::vector<TestClient> clients(50);
  {
    Server server(handler, test_options(2));
    server.start();
    for (auto& c : clients) REQUIRE(c.connect(server.port()));
    for (auto& c : clients) REQUIRE(c.echo("x") == "x");
    REQUIRE(wait_until([&] { return handler.connects() == 50; }));
    server.stop();
    server.wait();
    CHECK(handler.closes() == 50);
    CHECK(handler.closed_for(CloseReason::kServerStop) == 50);
    CHECK(handler.double_closes() == 0);
    CHECK(server.stats().open == 0);
  }
  for (auto& c : clients) CHECK(c.wait_closed(2000));
  clients.clear();
  CHECK(open_fd_count() == fds);
}

TEST_CASE("stop waits for pending output up to the deadline, then closes anyway") {
  CloserHandler handler;
  Options o = test_options(1);
  o.stop_timeout = std::chrono::milliseconds(300);
  Server server(handler, o);
  server.start();
  TestClient reader(server.port());
  TestClient stalled(server.port());
  REQUIRE(stalled.send_all("flood"));  // never read: output stays pending
  REQUIRE(reader.echo("ping") == "ping");
  REQUIRE(wait_until([&] { return server.stats().bytes_out > (1u << 20); }));
  auto t0 = std::chrono::steady_clock::now();
  server.stop();
  server.wait();
  auto took = std::chrono::steady_clock::now() - t0;
  CHECK(took >= std::chrono::milliseconds(250));  // it waited for the stalled peer
  CHECK(handler.closes() == 2);
  CHECK(handler.closed_for(CloseReason::kServerStop) == 2);
  CHECK(reader.wait_closed(1000));
}

namespace {

// Owns its connections only through a map it prunes in on_close (a common broadcast
// pattern), and sends from a timer: a send that fails may drop the last reference.
class MapOwner : public Handler {
 public:
  void on_connect(Connection& c) override { conns_[c.id()] = c.shared_from_this(); }
  std::span<const uint8_t> on_message(Connection&, const Frame& f) override { return f.data; }
  void on_close(Connection& c) override { conns_.erase(c.id()); }
  std::map<uint64_t, std::shared_ptr<Connection>> conns_;  // loop thread only (one loop)
};

}  // namespace

TEST_CASE("a send that fails and closes the connection survives losing the last reference") {
  MapOwner handler;
  Server server(handler, test_options(1));
  server.start();
  TestClient c(server.port());
  REQUIRE(c.echo("hi") == "hi");
  std::string big = random_bytes(1 << 20, 4);
  std::promise<void> holding, reset_done;
  std::promise<size_t> left;
  // Hold the loop while the peer resets, so the loop learns of it from the send itself
  // (EPIPE/ECONNRESET closes the connection; on_close erases the map's reference, the
  // last one, in the middle of send()).
  server.loops()[0]->run_in_loop([&] {
    holding.set_value();
    reset_done.get_future().wait();
    for (int i = 0; i < 50 && !handler.conns_.empty(); ++i)
      handler.conns_.begin()->second->send(big);
    left.set_value(handler.conns_.size());
  });
  holding.get_future().wait();
  c.reset();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  reset_done.set_value();
  CHECK(left.get_future().get() == 0);
}

TEST_CASE("close() gives a peer that never reads close_timeout to drain, then closes") {
  CloserHandler handler;
  Options o = test_options(1);
  o.close_timeout = std::chrono::milliseconds(200);
  Server server(handler, o);
  server.start();
  TestClient c(server.port());
  REQUIRE(c.send_all("flood"));
  REQUIRE(wait_until([&] { return server.stats().bytes_out > (1u << 20); }));
  auto conn = handler.any_live();
  REQUIRE(conn);
  conn->close();  // 30 MiB still pending, and the peer does not read
  REQUIRE(wait_until([&] { return handler.closes() == 1; }, 3000));
  CHECK(handler.closed_for(CloseReason::kLocal) == 1);
}
