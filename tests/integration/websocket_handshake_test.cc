// The websocket module end to end: the opening handshake (RFC 6455 4.2) and its
// refusals, subprotocols, frames pipelined behind the request, the handshake timeout,
// the max_headers limit on header lines.
// After every refusal the connection must close and the host must still serve others.
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "test_client.h"
#include "ws_test_util.h"

using namespace gev::test;
using namespace gev::test::ws;

namespace {

// The handshake is refused with `status`, the connection closes, the host goes on.
void expect_refused(WsHost& host, const Handshake& h, int status) {
  auto c = host.client();
  HttpResponse r = c->handshake(h);
  CHECK_MESSAGE(r.status == status, "answered '" << r.status_line << "'");
  CHECK_MESSAGE(c->wait_tcp_closed(3000), "connection left open after " << r.status);
}

std::string raw_head(std::string_view first_line, std::vector<std::string> lines) {
  std::string h = std::string(first_line) + "\r\n";
  for (const auto& l : lines) h += l + "\r\n";
  return h + "\r\n";
}

size_t header_lines(const Handshake& h) {
  const std::string head = h.head();
  size_t crlfs = 0;
  for (size_t p = head.find("\r\n"); p != std::string::npos; p = head.find("\r\n", p + 2)) ++crlfs;
  return crlfs - 2;  // not the request line's nor the blank line's
}

// The default handshake padded with X-Pad lines to `n` header lines in all.
Handshake with_header_lines(size_t n) {
  Handshake h;
  for (size_t i = header_lines(h); i < n; ++i)
    h.extra.emplace_back("X-Pad-" + std::to_string(i), "x");
  REQUIRE(header_lines(h) == n);
  return h;
}

// 431 for too many header lines, with Connection: close and a body, then EOF.
void expect_too_many_headers(WsHost& host, const Handshake& h) {
  auto c = host.client();
  HttpResponse r = c->handshake(h);
  CHECK(r.status_line == "HTTP/1.1 431 Request Header Fields Too Large");
  CHECK(r.header("Connection") == std::string("close"));
  CHECK_MESSAGE(r.body.find("header lines") != std::string::npos, "body '" << r.body << "'");
  CHECK_MESSAGE(c->wait_tcp_closed(3000), "connection left open after " << r.status);
}

}  // namespace

TEST_CASE("ws hs.1 101 with the RFC accept key and nothing unasked for") {
  CHECK(accept_key(kSampleKey) == kSampleAccept);  // our own check, RFC 6455 1.3
  WsHost& host = WsHost::shared();
  auto c = host.client();
  HttpResponse r = c->handshake();
  REQUIRE(r.status == 101);
  CHECK(r.status_line == "HTTP/1.1 101 Switching Protocols");
  CHECK(r.header("Sec-WebSocket-Accept") == std::string(kSampleAccept));
  CHECK(r.count("Sec-WebSocket-Accept") == 1);
  CHECK_FALSE(r.header("Sec-WebSocket-Protocol"));
  CHECK_FALSE(r.header("Sec-WebSocket-Extensions"));
  c->expect_echo(kText, "hello");
  Handshake other;
  other.key = base64("0123456789abcdef");
  other.target = "/some/path?query=1";
  host.open(other)->expect_echo(kBinary, std::string("\0\1\2", 3));
}

TEST_CASE("ws hs.2 Connection token list and header names in odd case") {
  WsHost& host = WsHost::shared();
  Handshake h;
  h.connection = "keep-alive, Upgrade";
  host.open(h)->expect_echo(kText, "token list");
  auto c = host.client();
  HttpResponse r = c->raw_handshake(
      raw_head("GET /chat HTTP/1.1",
               {"hOsT: 127.0.0.1", "UPGRADE: WebSocket", "connection: keep-alive,upgrade",
                "sec-websocket-KEY: " + std::string(kSampleKey), "User-Agent: gev-tests",
                "Origin: http://x", "SEC-WEBSOCKET-VERSION: 13"}));
  REQUIRE(r.status == 101);
  c->expect_echo(kText, "odd case");
}

TEST_CASE("ws hs.12 the request head split across writes, byte by byte") {
  WsHost& host = WsHost::shared();
  Handshake h;
  const std::string head = h.head();
  for (size_t chunk : {1, 7, 100}) {
    INFO("chunks of " << chunk);
    auto c = host.client();
    c->send_chunked(head.substr(0, head.size() - 1), chunk, 1);
    // The last byte, with a frame right behind it, completes the head.
    HttpResponse r = c->raw_handshake(head.substr(head.size() - 1) + c->message_bytes(kText, "x"));
    REQUIRE(r.status == 101);
    c->expect_message(kText, "x");
  }
}

TEST_CASE("ws hs.3 version other than 13 or missing -> 426 with Sec-WebSocket-Version: 13") {
  WsHost& host = WsHost::shared();
  for (std::optional<std::string> v :
       {std::optional<std::string>("12"), std::optional<std::string>("8"),
        std::optional<std::string>()}) {
    INFO("version " << v.value_or("(none)"));
    Handshake h;
    h.version = v;
    auto c = host.client();
    HttpResponse r = c->handshake(h);
    CHECK(r.status == 426);
    CHECK(r.header("Sec-WebSocket-Version") == std::string("13"));
    CHECK(c->wait_tcp_closed(3000));
  }
  host.still_serves();
}

TEST_CASE("ws hs.4 missing or malformed Sec-WebSocket-Key -> 400") {
  WsHost& host = WsHost::shared();
  for (std::optional<std::string> key : {
           std::optional<std::string>(),
           std::optional<std::string>("short"),
           std::optional<std::string>(base64("fifteen bytes!!")),    // 15 bytes
           std::optional<std::string>(base64("seventeen bytes!!")),  // 17 bytes
           std::optional<std::string>("!!!!!!!!!!!!!!!!!!!!!A=="),   // 24 chars, not base64
           std::optional<std::string>(""),
       }) {
    INFO("key '" << key.value_or("(none)") << "'");
    Handshake h;
    h.key = key;
    expect_refused(host, h, 400);
  }
  host.still_serves();
}

TEST_CASE("ws hs.5 missing Host, bad Upgrade or Connection, HTTP/1.0 -> 400") {
  WsHost& host = WsHost::shared();
  Handshake no_host;
  no_host.host.reset();
  expect_refused(host, no_host, 400);
  Handshake h2c;
  h2c.upgrade = "h2c";
  expect_refused(host, h2c, 400);
  Handshake keep_alive;
  keep_alive.connection = "keep-alive";
  expect_refused(host, keep_alive, 400);
  Handshake http10;
  http10.http_version = "HTTP/1.0";
  expect_refused(host, http10, 400);
  host.still_serves();
}

TEST_CASE("ws hs.6 method not GET -> 405 with Allow: GET") {
  WsHost& host = WsHost::shared();
  for (const char* method : {"POST", "PUT", "DELETE"}) {
    INFO(std::string(method));
    Handshake h;
    h.method = method;
    auto c = host.client();
    HttpResponse r = c->handshake(h);
    CHECK(r.status == 405);
    CHECK(r.header("Allow") == std::string("GET"));
    CHECK(c->wait_tcp_closed(3000));
  }
  host.still_serves();
}

TEST_CASE("ws hs.7 request head over max_head -> 431") {
  SUBCASE("default 8192") {
    WsHost& host = WsHost::shared();
    Handshake h;
    h.extra.emplace_back("X-Padding", std::string(9000, 'p'));
    expect_refused(host, h, 431);
    host.still_serves();
  }
  SUBCASE("max_head=1024") {
    WsHost host({"max_head=1024"});
    Handshake fits;
    fits.extra.emplace_back("X-Padding", std::string(700, 'p'));
    host.open(fits)->expect_echo(kText, "fits");
    Handshake over;
    over.extra.emplace_back("X-Padding", std::string(1100, 'p'));
    expect_refused(host, over, 431);
    // too long and never finished: refused as soon as max_head bytes arrived
    auto c = host.client();
    c->send_raw("GET / HTTP/1.1\r\nX-Padding: " + std::string(2000, 'p'));
    HttpResponse r = c->raw_handshake("");
    CHECK(r.status == 431);
    host.still_serves();
  }
}

TEST_CASE("ws hs.8 frames sent in the same write as the handshake are processed") {
  WsHost& host = WsHost::shared();
  auto c = host.client();
  Handshake h;
  h.trailing = c->message_bytes(kText, "pipelined") + encode(frame(kPing, "p")) +
               c->message_bytes(kBinary, "second");
  REQUIRE(c->handshake(h).status == 101);
  c->expect_message(kText, "pipelined");
  c->expect_message(kPong, "p");
  c->expect_message(kBinary, "second");
}

TEST_CASE("ws hs.9 subprotocol: the server's first preference the client offers") {
  WsHost host({"subprotocols=a,b"});
  struct Case {
    std::optional<std::string> offer;
    std::optional<std::string> chosen;
  };
  for (const Case& k : std::vector<Case>{{"b, a", "a"},
                                         {"c, b", "b"},
                                         {"b", "b"},
                                         {"c", std::nullopt},
                                         {std::nullopt, std::nullopt}}) {
    INFO("offer " << k.offer.value_or("(none)"));
    Handshake h;
    h.protocols = k.offer;
    auto c = host.client();
    HttpResponse r = c->handshake(h);
    REQUIRE(r.status == 101);
    CHECK(r.header("Sec-WebSocket-Protocol") == k.chosen);
    c->expect_echo(kText, "sub");
  }
}

TEST_CASE("ws hs.10 a plain GET without Upgrade -> 426 from the echo handler") {
  WsHost& host = WsHost::shared();
  auto c = host.client();
  HttpResponse r = c->raw_handshake(raw_head("GET /index.html HTTP/1.1", {"Host: 127.0.0.1"}));
  CHECK(r.status == 426);
  // The request head must not leak into the answer's headers.
  for (const auto& [name, value] : r.headers)
    CHECK_MESSAGE(value.find("HTTP/1.1") == std::string::npos,
                  "response header '" << name << ": " << value << "'");
  CHECK(c->wait_tcp_closed(3000));
  host.still_serves();
}

TEST_CASE("ws hs.11 handshake_timeout_ms closes a connection without a complete head") {
  WsHost host({"handshake_timeout_ms=300"});
  auto start = std::chrono::steady_clock::now();
  auto silent = host.client();
  auto partial = host.client();
  partial->send_raw("GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  auto open = host.open();
  CHECK(silent->wait_tcp_closed(3000));
  CHECK(partial->wait_tcp_closed(3000));
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(250));
  // An upgraded connection is not subject to it.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  open->expect_echo(kText, "still open");
  host.still_serves();
}

TEST_CASE("ws hs.13 more header lines than max_headers -> 431") {
  SUBCASE("default 100") {
    WsHost& host = WsHost::shared();
    auto c = host.client();
    HttpResponse r = c->handshake(with_header_lines(100));
    REQUIRE(r.status == 101);
    CHECK(r.status_line == "HTTP/1.1 101 Switching Protocols");
    c->expect_echo(kText, "100 header lines");
    expect_too_many_headers(host, with_header_lines(101));
    expect_too_many_headers(host, with_header_lines(200));
    // never finished: refused once the 101st line is complete, before the blank line
    auto partial = host.client();
    const std::string head = with_header_lines(101).head();
    partial->send_raw(head.substr(0, head.size() - 2));
    HttpResponse p = partial->raw_handshake("");
    CHECK(p.status == 431);
    CHECK(partial->wait_tcp_closed(3000));
    host.still_serves();
  }
  SUBCASE("max_headers=5") {
    WsHost host({"max_headers=5"});
    host.open(with_header_lines(5))->expect_echo(kText, "5 header lines");
    expect_too_many_headers(host, with_header_lines(6));
    host.still_serves();
  }
  SUBCASE("the refusal is logged at debug level, like the other handshake refusals") {
    ModuleDir dir{"websocket", "echo"};
    HostProcess host(GEV_HOST_PATH,
                     args(dir, "websocket", "echo",
                          {"--module-opt", "websocket.max_headers=5", "--log-level", "debug"}));
    REQUIRE_MESSAGE(host.listening(), host.log());
    WsClient c(host.port());
    REQUIRE(c.connected());
    CHECK(c.handshake(with_header_lines(6)).status == 431);
    CHECK(c.wait_tcp_closed(3000));
    const std::string line = "handshake refused with 431: too many header lines";
    CHECK_MESSAGE(wait_until([&] { return contains(host.log(), line); }, 3000), host.log());
  }
}

TEST_CASE("ws hs.14 a bad max_headers refuses the module, naming the option") {
  struct Bad {
    const char* opt;
    const char* named;
  };
  for (Bad bad : {Bad{"websocket.max_headers=0", "websocket.max_headers must be > 0"},
                  Bad{"websocket.max_headers=many", "websocket.max_headers wants a non-negative"},
                  Bad{"websocket.max_headers=-1", "websocket.max_headers wants a non-negative"}}) {
    CAPTURE(bad.opt);
    ModuleDir dir{"websocket", "echo"};
    HostProcess host(GEV_HOST_PATH, args(dir, "websocket", "echo", {"--module-opt", bad.opt}));
    CHECK_FALSE(host.listening());
    CHECK(host.wait_exit() == 1);  // the listener needs the refused module
    const std::string& log = host.log();
    INFO(log);
    CHECK(contains(log, bad.named));
    CHECK(contains(log,
                   "refused module " + (dir.path / "websocket.so").string() + ": create() failed"));
  }
}
