// The websocket module end to end, Autobahn|Testsuite group 12: permessage-deflate
// (RFC 7692) negotiation, compressed echo in both directions, context takeover,
// compressed fragments, bad compressed data and a zip bomb against max_message.
#include <string>
#include <vector>

#include "test_client.h"
#include "ws_test_util.h"

using namespace gev::test;
using namespace gev::test::ws;

namespace {

const std::vector<size_t> kSizes = {0,    1,    16,   63,   64,    65,    125,    126,
                                    1000, 1023, 1024, 4096, 65535, 65536, 262144, 1 << 20};

}  // namespace

TEST_CASE("ws 12.0 permessage-deflate negotiation: accepted offers") {
  WsHost& host = WsHost::shared();
  struct Case {
    std::string offer;
    std::string must_contain;  // in the answer
  };
  for (const Case& k : std::vector<Case>{
           {"permessage-deflate", ""},
           {"permessage-deflate; client_max_window_bits", ""},
           {"permessage-deflate; server_no_context_takeover", "server_no_context_takeover"},
           {"permessage-deflate; client_no_context_takeover", ""},
           {"permessage-deflate; server_max_window_bits=10", "server_max_window_bits="},
           {"permessage-deflate;server_max_window_bits=\"12\"", "server_max_window_bits="},
           {"permessage-deflate; client_max_window_bits=15; server_max_window_bits=15", ""},
           {"x-unknown-extension, permessage-deflate", ""},
           // the first offer cannot be taken (zlib has no 8-bit window); the second is
           {"permessage-deflate; server_max_window_bits=8, permessage-deflate", ""},
       }) {
    INFO("offer: " << k.offer);
    auto c = host.client();
    HttpResponse r = c->handshake(offer(k.offer));
    CHECK(r.status == 101);
    CHECK(accepted(r));
    if (r.status != 101 || !accepted(r) || !c->deflate()) continue;  // go on with the others
    CHECK(r.header("Sec-WebSocket-Extensions")->find(k.must_contain) != std::string::npos);
    if (k.offer.find("server_max_window_bits=10") != std::string::npos)
      CHECK(c->deflate()->server_max_window_bits <= 10);
    if (k.offer.find("server_max_window_bits=\"12\"") != std::string::npos)
      CHECK(c->deflate()->server_max_window_bits <= 12);
    if (k.offer.find("server_max_window_bits=8,") != std::string::npos)
      CHECK(r.header("Sec-WebSocket-Extensions")->find("server_max_window_bits") ==
            std::string::npos);
    c->expect_echo(kText, words(500, 1), true);
    c->expect_echo(kBinary, words(20, 2), true);
  }
}

TEST_CASE("ws 12.0 permessage-deflate negotiation: declined offers get 101 without it") {
  WsHost& host = WsHost::shared();
  for (std::string o : {
           "permessage-deflate; server_max_window_bits=8",   // zlib cannot do 8
           "permessage-deflate; server_max_window_bits=16",  // out of range
           "permessage-deflate; server_max_window_bits",     // needs a value
           "permessage-deflate; client_max_window_bits=7",
           "permessage-deflate; client_max_window_bits=abc",
           "permessage-deflate; foo=bar",  // unknown parameter
           "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
           "permessage-deflate; server_no_context_takeover=1",
           "x-webkit-deflate-frame",
       }) {
    INFO("offer: " << o);
    auto c = host.client();
    HttpResponse r = c->handshake(offer(o));
    CHECK(r.status == 101);
    CHECK_FALSE(accepted(r));
    if (r.status != 101 || accepted(r)) continue;
    // Without the extension a compressed frame is a protocol error.
    c->send(frame(kText, "x"));
    c->expect_message(kText, "x");
    Frame f = frame(kText, deflate_message("compressed"));
    f.rsv1 = true;
    c->send(f);
    c->expect_close(1002);
  }
  host.still_serves();
}

TEST_CASE("ws 12.1 compressed messages of many sizes; RSV1 on answers iff >= threshold") {
  WsHost& host = WsHost::shared();
  auto c = host.open(offer("permessage-deflate"));
  REQUIRE(c->deflate());
  for (size_t n : kSizes) {
    for (uint8_t op : {kText, kBinary}) {
      INFO(n << " bytes, opcode " << int(op));
      const std::string msg = op == kText ? words(n, static_cast<uint32_t>(n))
                                          : random_bytes(n, static_cast<uint32_t>(n));
      c->send_message(op, msg, true);
      auto m = c->read_message(10000);
      REQUIRE(m);
      CHECK(m->opcode == op);
      CHECK(m->payload == msg);
      // deflate_threshold (default 1024): shorter answers go out plain, the rest
      // compressed.
      CHECK(m->compressed == (n >= 1024));
    }
  }
}

TEST_CASE("ws 12.2 compressed and uncompressed client messages mixed") {
  WsHost& host = WsHost::shared();
  auto c = host.open(offer("permessage-deflate"));
  REQUIRE(c->deflate());
  std::string batch;
  std::vector<std::string> sent;
  for (int i = 0; i < 40; ++i) {
    sent.push_back(words(static_cast<size_t>(10 + i * 37), static_cast<uint32_t>(i)));
    batch += c->message_bytes(i % 3 ? kText : kBinary, sent.back(), i % 2 == 0);
  }
  c->send_raw(batch);
  for (int i = 0; i < 40; ++i) {
    INFO("message " << i);
    c->expect_message(i % 3 ? kText : kBinary, sent[static_cast<size_t>(i)]);
  }
}

TEST_CASE("ws 12.3 context takeover across messages, both directions") {
  WsHost& host = WsHost::shared();
  auto c = host.open(offer("permessage-deflate"));
  REQUIRE(c->deflate());
  CHECK_FALSE(c->deflate()->server_no_context_takeover);
  const std::string msg = random_bytes(2000, 77);  // compresses only against itself
  std::vector<size_t> wire;
  for (int i = 0; i < 5; ++i) {
    // From the second time on our frame is a few bytes referring to the previous
    // message: the server must have kept its inflate window.
    c->send_message(kBinary, msg, true);
    auto m = c->read_message();
    REQUIRE(m);
    CHECK(m->payload == msg);
    wire.push_back(m->wire_payload_size);
  }
  // Not required by RFC 7692, but a server that keeps its window should use it.
  WARN_MESSAGE(wire[4] < wire[0] / 4, "server answers do not use context takeover: "
                                          << wire[0] << " then " << wire[4] << " bytes");
}

TEST_CASE("ws 12.4 compressed fragmented messages; RSV1 only on the first frame") {
  WsHost& host = WsHost::shared();
  auto c = host.open(offer("permessage-deflate"));
  REQUIRE(c->deflate());
  const std::string msg = words(10000, 8);
  const std::string z = c->compress(msg);
  REQUIRE(z.size() > 3);
  const size_t a = z.size() / 3, b = 2 * z.size() / 3;
  Frame first = frame(kText, z.substr(0, a), false);
  first.rsv1 = true;
  const std::string bytes = encode(first) +
                            encode(frame(kContinuation, z.substr(a, b - a), false)) +
                            encode(frame(kContinuation, z.substr(b)));
  c->send_raw(bytes);
  c->expect_message(kText, msg);

  SUBCASE("RSV1 on a continuation -> 1002") {
    const std::string z2 = c->compress(msg);
    Frame start = frame(kText, z2.substr(0, 10), false);
    start.rsv1 = true;
    Frame second = frame(kContinuation, z2.substr(10));
    second.rsv1 = true;
    c->send_raw(encode(start) + encode(second));
    c->expect_close(1002);
  }
  SUBCASE("RSV1 on a ping -> 1002") {
    Frame ping = frame(kPing, "");
    ping.rsv1 = true;
    c->send(ping);
    c->expect_close(1002);
  }
}

TEST_CASE("ws 12.5 zip bomb: a small compressed message inflating past max_message -> 1009") {
  SUBCASE("max_message=65536, 1 MiB of zeros in about 1 KiB") {
    WsHost host({"max_message=65536"});
    auto c = host.open(offer("permessage-deflate"));
    REQUIRE(c->deflate());
    c->expect_echo(kBinary, std::string(65536, '\0'), true);  // at the limit: fine
    const std::string bomb = c->compress(std::string(1 << 20, '\0'));
    CHECK(bomb.size() < 65536 / 8);
    Frame f = frame(kBinary, bomb);
    f.rsv1 = true;
    c->send(f);
    c->expect_close(1009);
    host.still_serves();
  }
  SUBCASE("default max_message, 20 MiB of one letter in about 20 KiB") {
    WsHost& host = WsHost::shared();
    auto c = host.open(offer("permessage-deflate"));
    REQUIRE(c->deflate());
    Frame f = frame(kText, deflate_message(std::string(20 << 20, 'a')));
    f.rsv1 = true;
    c->send(f);
    c->expect_close(1009, 10000);
    host.still_serves();
  }
}

TEST_CASE("ws 12.6 compressed text with invalid UTF-8 -> 1007, also across fragments") {
  WsHost& host = WsHost::shared();
  const std::string bad = "\xCE\xBA\xE1\xBD\xB9\xED\xA0\x80 after a surrogate";
  {
    auto c = host.open(offer("permessage-deflate"));
    REQUIRE(c->deflate());
    c->expect_echo(kText, words(300, 1), true);
    c->send_message(kText, bad, true);
    c->expect_close(1007);
  }
  {
    auto c = host.open(offer("permessage-deflate"));
    REQUIRE(c->deflate());
    const std::string z = c->compress(bad);
    Frame first = frame(kText, z.substr(0, z.size() / 2), false);
    first.rsv1 = true;
    c->send_raw(encode(first) + encode(frame(kContinuation, z.substr(z.size() / 2))));
    c->expect_close(1007);
  }
  host.still_serves();
}

TEST_CASE("ws 12.7 corrupt compressed data fails the connection") {
  // RFC 7692 leaves the close code open; the module's codes for bad data are 1002/1007.
  WsHost& host = WsHost::shared();
  for (const std::string& junk :
       {std::string("\xff\xff\xff\xff\xff"),              // invalid block type
        std::string("\x07\x00\x00\x00", 4),               // invalid block type
        std::string("\x00\x05\x00\x00\x00hello", 10)}) {  // LEN and NLEN disagree
    auto c = host.open(offer("permessage-deflate"));
    REQUIRE(c->deflate());
    Frame f = frame(kBinary, junk);
    f.rsv1 = true;
    c->send(f);
    c->expect_close_of({1002, 1007});
  }
  host.still_serves();
}
