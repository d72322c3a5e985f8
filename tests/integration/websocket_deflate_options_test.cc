// The websocket module end to end, Autobahn|Testsuite group 13: permessage-deflate with
// parameters (no_context_takeover, window bits) offered by the client or forced by the
// host's options, deflate_threshold / deflate_level, and deflate=0.
#include <string>

#include "test_client.h"
#include "ws_test_util.h"

using namespace gev::test;
using namespace gev::test::ws;

TEST_CASE("ws 13.1 no_context_takeover, offered by us or forced by the host") {
  SUBCASE("offered") {
    WsHost& host = WsHost::shared();
    auto c = host.open(
        offer("permessage-deflate; server_no_context_takeover; client_no_context_takeover"));
    REQUIRE(c->deflate());
    CHECK(c->deflate()->server_no_context_takeover);
    const std::string msg = words(3000, 5);
    // Our inflater is reset per message: a server that kept its window would break it.
    for (int i = 0; i < 4; ++i) c->expect_echo(kText, msg, true);
  }
  SUBCASE("forced by websocket.server_no_context_takeover=1 and client_...=1") {
    WsHost host({"server_no_context_takeover=1", "client_no_context_takeover=1"});
    auto c = host.open(offer("permessage-deflate"));
    REQUIRE(c->deflate());
    CHECK(c->deflate()->server_no_context_takeover);
    CHECK(c->deflate()->client_no_context_takeover);
    for (int i = 0; i < 4; ++i) c->expect_echo(kText, words(3000, 6), true);
  }
}

TEST_CASE("ws 13.2 server_max_window_bits=10: the server's data inflates in a 1 KiB window") {
  WsHost& host = WsHost::shared();
  auto c = host.open(offer("permessage-deflate; server_max_window_bits=10"));
  REQUIRE(c->deflate());
  REQUIRE(c->deflate()->server_max_window_bits <= 10);
  // Repeats 3000 bytes apart: a server using a 32 KiB window would refer back past 1 KiB
  // and our 10-bit inflater would reject the frame.
  const std::string half = random_bytes(3000, 3);
  for (int i = 0; i < 3; ++i) c->expect_echo(kBinary, half + half, true);
}

TEST_CASE("ws 13.3 deflate=0: the offer is ignored and RSV1 is a protocol error") {
  WsHost host({"deflate=0"});
  auto c = host.client();
  HttpResponse r = c->handshake(offer("permessage-deflate; client_max_window_bits"));
  REQUIRE(r.status == 101);
  CHECK_FALSE(r.header("Sec-WebSocket-Extensions").has_value());
  c->expect_echo(kText, words(200, 1));
  Frame f = frame(kText, deflate_message("hello"));
  f.rsv1 = true;
  c->send(f);
  c->expect_close(1002);
  host.still_serves();
}

TEST_CASE("ws 13.4 window bits forced by the host's server_/client_max_window_bits") {
  WsHost host({"server_max_window_bits=9", "client_max_window_bits=10"});
  const std::string half = random_bytes(1500, 13);  // repeats 1500 bytes apart
  SUBCASE("offer with client_max_window_bits: both limits in the answer") {
    auto c = host.open(offer("permessage-deflate; client_max_window_bits"));
    REQUIRE(c->deflate());
    CHECK(c->deflate()->server_max_window_bits <= 9);
    CHECK(c->deflate()->client_max_window_bits <= 10);
    // our inflater has the announced (small) window: a server using more would fail it
    for (int i = 0; i < 3; ++i) c->expect_echo(kBinary, half + half, true);
  }
  SUBCASE("offer without client_max_window_bits: the answer must not name it") {
    // RFC 7692 7.1.2.2: without it in the offer the response MUST NOT include it.
    auto c = host.client();
    HttpResponse r = c->handshake(offer("permessage-deflate"));
    REQUIRE(r.status == 101);
    if (accepted(r)) {
      CHECK(r.header("Sec-WebSocket-Extensions")->find("client_max_window_bits") ==
            std::string::npos);
      c->expect_echo(kBinary, half + half, true);  // compressed with a 15-bit window
    }
  }
}

TEST_CASE("ws 13.5 deflate_threshold sets which answers are compressed") {
  SUBCASE("deflate_threshold=1000") {
    WsHost host({"deflate_threshold=1000"});
    auto c = host.open(offer("permessage-deflate"));
    REQUIRE(c->deflate());
    for (size_t n : {0, 100, 999, 1001, 5000}) {
      INFO(n << " bytes");
      c->send_message(kText, words(n, 3), true);
      auto m = c->read_message();
      REQUIRE(m);
      CHECK(m->payload == words(n, 3));
      CHECK(m->compressed == (n > 1000));
    }
  }
  SUBCASE("deflate_level=9 still echoes") {
    WsHost host({"deflate_level=9"});
    auto c = host.open(offer("permessage-deflate"));
    REQUIRE(c->deflate());
    c->expect_echo(kText, words(100000, 4), true);
  }
}
