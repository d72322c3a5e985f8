// Closing: peer half-close, reset mid-stream, close and shutdown_write from a handler,
// and the graceful stop (on_close exactly once per on_connect, no descriptor left).
#include <doctest/doctest.h>

#include <string>
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
