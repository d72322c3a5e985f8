// The websocket module end to end, Autobahn|Testsuite groups 6 (UTF-8 in text messages,
// checked incrementally and failing fast, RFC 6455 8.1) and 7 (the closing handshake,
// close codes and reasons, RFC 6455 5.5.1 and 7.4).
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "ws_test_util.h"

using namespace gev::test;
using namespace gev::test::ws;

namespace {

const std::vector<std::string> kValid = {
    "Hello-\xC2\xB5@\xC3\x9F\xC3\xB6\xC3\xA4\xC3\xBC\xC3\xA0\xC3\xA1-UTF-8!!",
    "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5",  // κόσμε
    std::string("\x00\x7F", 2),                      // the one-byte ends (NUL included)
    "\xC2\x80\xDF\xBF",                              // U+0080, U+07FF
    "\xE0\xA0\x80\xEF\xBF\xBF",                      // U+0800, U+FFFF
    "\xED\x9F\xBF\xEE\x80\x80",                      // U+D7FF, U+E000 around the surrogates
    "\xEF\xBF\xBE\xEF\xBF\xBD\xEF\xBB\xBF",          // U+FFFE, U+FFFD, BOM
    "\xF0\x90\x80\x80\xF4\x8F\xBF\xBF",              // U+10000, U+10FFFF
    "\xF0\x9F\x98\x80 \xF3\xBF\xBF\xBF",             // U+1F600, U+FFFFF
};

const std::vector<std::string> kInvalid = {
    "\xC0\x80",                  // overlong NUL
    "\xC1\xBF",                  // overlong 2-byte
    "\xE0\x80\x80",              // overlong 3-byte
    "\xE0\x9F\xBF",              // overlong U+07FF
    "\xF0\x80\x80\x80",          // overlong 4-byte
    "\xF0\x8F\xBF\xBF",          // overlong U+FFFF
    "\xED\xA0\x80",              // U+D800
    "\xED\xBF\xBF",              // U+DFFF
    "\xED\xA0\x80\xED\xB0\x80",  // a surrogate pair spelled out
    "\xF4\x90\x80\x80",          // U+110000
    "\xF5\x80\x80\x80",          // 0xF5 lead
    "\xF7\xBF\xBF\xBF",          // U+1FFFFF
    "\xF8\x88\x80\x80\x80",      // 5-byte form
    "\xFC\x84\x80\x80\x80\x80",  // 6-byte form
    "\xFE",
    "\xFF",
    "\x80",  // lone continuation bytes
    "\xBF",
    "a\x80z",
    "\xC0",
    "\xC1",
    "\xC2",  // truncated at the end of the message
    "\xE0\xA0",
    "\xF0\x90\x80",
    "\xC2\x41",  // a lead byte followed by ASCII
    "\xE0\xA0\x41",
    "\xCE\xBA\xE1\xBD",          // κ then a truncated ό
    "\xEF\xBF\xBF\xED\xA0\x80",  // valid then a surrogate
};

std::string valid_all() {
  std::string s;
  for (const auto& v : kValid) s += v;
  return s;
}

// The code in a close payload (0 when it has none).
uint16_t code_of(const std::string& close) {
  return close.size() < 2 ? 0
                          : static_cast<uint16_t>(static_cast<uint8_t>(close[0]) << 8 |
                                                  static_cast<uint8_t>(close[1]));
}

}  // namespace

// --- 6: UTF-8 ---------------------------------------------------------------------------

TEST_CASE("ws 6.1 valid UTF-8 texts echo (boundary code points, U+FFFF, U+10FFFF)") {
  WsHost& host = WsHost::shared();
  auto c = host.open();
  for (const std::string& v : kValid) c->expect_echo(kText, v);
  c->expect_echo(kText, valid_all());
  // Invalid UTF-8 is fine in binary messages.
  for (const std::string& v : kInvalid) c->expect_echo(kBinary, v);
}

TEST_CASE("ws 6.2 invalid UTF-8 -> 1007 (overlongs, surrogates, > U+10FFFF, truncated)") {
  WsHost& host = WsHost::shared();
  for (size_t i = 0; i < kInvalid.size(); ++i) {
    INFO("invalid sequence #" << i);
    expect_failure(host, encode(frame(kText, "ok " + kInvalid[i] + (i % 2 ? "" : " tail"))), 1007);
  }
  host.still_serves();
}

TEST_CASE("ws 6.3 a valid text split into fragments at every byte boundary echoes intact") {
  WsHost& host = WsHost::shared();
  auto c = host.open();
  const std::string text = valid_all();
  for (size_t cut = 1; cut < text.size(); ++cut) {
    INFO("split after byte " << cut);
    c->send_raw(encode(frame(kText, text.substr(0, cut), false)) +
                encode(frame(kContinuation, text.substr(cut))));
    c->expect_message(kText, text);
  }
  // and as one-byte fragments, one per write
  const std::string kosme = kValid[1];
  c->send_chunked(fragments(kText, kosme, kosme.size()), 7, 1);
  c->expect_message(kText, kosme);
}

TEST_CASE("ws 6.4 invalid UTF-8 split across fragments at every boundary -> 1007") {
  WsHost& host = WsHost::shared();
  const std::string bad = "\xCE\xBA\xED\xA0\x80\xCE\xBA";  // κ U+D800 κ
  for (size_t cut = 1; cut < bad.size(); ++cut) {
    INFO("split after byte " << cut);
    expect_failure(host,
                   encode(frame(kText, bad.substr(0, cut), false)) +
                       encode(frame(kContinuation, bad.substr(cut))),
                   1007);
  }
  host.still_serves();
}

TEST_CASE("ws 6.5 fail fast: invalid UTF-8 in an unfinished message -> 1007 at once") {
  WsHost& host = WsHost::shared();
  SUBCASE("in the first fragment of a message that never finishes") {
    auto c = host.open();
    c->send(frame(kText,
                  "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5\xED\xA0\x80"
                  "edited",
                  false));
    c->expect_close(1007, 2000);
  }
  SUBCASE("in the second fragment, the final one never sent") {
    auto c = host.open();
    c->send(frame(kText, "\xCE\xBA\xE1\xBD", false));
    c->send(frame(kContinuation, "\xB9\xCF\x83\xF4\x90\x80\x80", false));
    c->expect_close(1007, 2000);
  }
  SUBCASE("in the first bytes of one frame whose payload is still coming") {
    auto c = host.open();
    Frame f = frame(kText, "");
    const std::string start = "\xCE\xBA\xE1\xBD\xB9\xC0\xAF";  // then an overlong '/'
    c->send_raw(encode_header(f, 1000) + mask_payload(f.mask_key, start));
    c->expect_close(1007, 2000);
  }
  host.still_serves();
}

// --- 7: close ---------------------------------------------------------------------------

TEST_CASE("ws 7.1 close 1000 with a reason -> close 1000 (no reason), then TCP close") {
  WsHost& host = WsHost::shared();
  {
    auto c = host.open();
    c->send(frame(kClose, close_payload(1000, "bye now")));
    const std::string close = c->expect_close(1000);
    CHECK(close == close_payload(1000));
  }
  {
    auto c = host.open();  // a message and the close in one write: echo, then close
    c->send_raw(c->message_bytes(kText, "last words") + encode(frame(kClose, close_payload(1000))));
    c->expect_message(kText, "last words");
    c->expect_close(1000);
  }
  host.still_serves();
}

TEST_CASE("ws 7.2 empty close -> empty close") {
  WsHost& host = WsHost::shared();
  auto c = host.open();
  c->send(frame(kClose, ""));
  const std::string close = c->expect_close(std::nullopt);
  CHECK(close.empty());
}

TEST_CASE("ws 7.3 frames after our close are ignored (no echo, no pong)") {
  WsHost& host = WsHost::shared();
  auto c = host.open();
  c->send_raw(encode(frame(kClose, close_payload(1000))) + c->message_bytes(kText, "ignored") +
              encode(frame(kPing, "ignored")) + encode(frame(kContinuation, "ignored")));
  c->expect_close(1000);  // strict: no frame before the close, nothing after it
}

TEST_CASE("ws 7.4 close in the middle of a fragmented message -> close 1000") {
  WsHost& host = WsHost::shared();
  auto c = host.open();
  c->send_raw(encode(frame(kText, "never ", false)) + encode(frame(kClose, close_payload(1000))));
  c->expect_close(1000);
}

TEST_CASE("ws 7.5 close payload sizes: 1 byte -> 1002, 125 -> echoed, 126 -> 1002") {
  WsHost& host = WsHost::shared();
  expect_failure(host, encode(frame(kClose, "\x03")), 1002);
  {
    auto c = host.open();
    c->send(frame(kClose, close_payload(1000, std::string(123, 'r'))));
    c->expect_close(1000);
  }
  expect_failure(host, encode(frame(kClose, close_payload(1000, std::string(124, 'r')))), 1002);
  host.still_serves();
}

TEST_CASE("ws 7.6 close reason with invalid UTF-8 -> 1007") {
  WsHost& host = WsHost::shared();
  expect_failure(host, encode(frame(kClose, close_payload(1000, "bad \xED\xA0\x80 reason"))), 1007);
  expect_failure(host, encode(frame(kClose, close_payload(1001, "\xC0"))), 1007);
  {
    auto c = host.open();  // a valid multibyte reason is fine
    c->send(frame(kClose, close_payload(1001, "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5")));
    c->expect_close(1001);
  }
  host.still_serves();
}

TEST_CASE("ws 7.7 valid close codes are echoed") {
  WsHost& host = WsHost::shared();
  for (uint16_t code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
                        3000, 3999, 4000, 4999}) {
    INFO("close code " << code);
    auto c = host.open();
    c->send(frame(kClose, close_payload(code, "reason")));
    const std::string close = c->expect_close(code);
    CHECK(code_of(close) == code);
  }
  host.still_serves();
}

TEST_CASE("ws 7.9 invalid close codes -> 1002") {
  WsHost& host = WsHost::shared();
  for (uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
    INFO("close code " << code);
    expect_failure(host, encode(frame(kClose, close_payload(code))), 1002);
  }
  host.still_serves();
}

TEST_CASE("ws 7.10 the server closes TCP after its close even if we never answer") {
  // close_timeout_ms bounds how long the server waits for our TCP close (RFC 6455 7.1.1).
  WsHost host({"close_timeout_ms=300"});
  auto c = host.open();
  c->send(frame(kClose, close_payload(1000)));
  auto f = c->read_frame();
  REQUIRE(f);
  CHECK(f->opcode == kClose);
  // The write side is shut at once (EOF); once close_timeout_ms passes with our side
  // still open the server aborts, so our later writes meet a reset.
  CHECK(c->wait_tcp_closed(2000));
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  c->send_raw("x");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK_MESSAGE(!c->send_raw("y"), "the connection is still open after close_timeout_ms");
  host.still_serves();
}
