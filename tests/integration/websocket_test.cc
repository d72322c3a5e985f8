// The websocket module end to end, Autobahn|Testsuite groups 1-5: framing, ping/pong,
// reserved bits, opcodes, fragmentation (RFC 6455 5.2-5.5). One gev-host per test case.
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "test_client.h"
#include "ws_test_util.h"

using namespace gev::test;
using namespace gev::test::ws;

namespace {

// Every byte value, repeated to n bytes.
std::string all_bytes(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 7 + 3);
  return s;
}

const std::vector<size_t> kSizes = {0, 1, 125, 126, 127, 128, 65535, 65536};

}  // namespace

// --- 1: framing -------------------------------------------------------------------------

TEST_CASE("ws 1.1 text payloads 0..65536 (7-, 16- and 64-bit lengths)") {
  WsHost& host = WsHost::shared();
  auto c = host.open();
  for (size_t n : kSizes) {
    INFO("text of " << n << " bytes");
    c->expect_echo(kText, std::string(n, '*'));
  }
}

TEST_CASE("ws 1.2 binary payloads 0..1 MiB") {
  WsHost& host = WsHost::shared();
  auto c = host.open();
  std::vector<size_t> sizes = kSizes;
  sizes.push_back(1 << 20);
  for (size_t n : sizes) {
    INFO("binary of " << n << " bytes");
    c->expect_echo(kBinary, random_bytes(n, static_cast<uint32_t>(n)));
  }
}

TEST_CASE("ws 1.3 frames in chunks, byte by byte, and the header split at every byte") {
  WsHost& host = WsHost::shared();
  auto c = host.open();
  const std::string small = "byte by byte";
  c->send_chunked(c->message_bytes(kText, small), 1, 2);
  c->expect_message(kText, small);

  const std::string big = random_bytes(70000, 11);  // a 64-bit length field
  c->send_chunked(c->message_bytes(kBinary, big), 997, 0);
  c->expect_message(kBinary, big);

  // 16-bit length: header is 2 + 2 + 4 bytes; split after each of them.
  const std::string mid(300, 'm');
  const std::string bytes = c->message_bytes(kText, mid);
  for (size_t cut = 1; cut <= 8; ++cut) {
    INFO("split after byte " << cut);
    c->send_raw(bytes.substr(0, cut));
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    c->send_raw(bytes.substr(cut));
    c->expect_message(kText, mid);
  }
}

TEST_CASE("ws 1.4 several frames in one write, echoed in order") {
  WsHost& host = WsHost::shared();
  auto c = host.open();
  std::string batch;
  for (size_t n : kSizes) batch += c->message_bytes(n % 2 ? kText : kBinary, std::string(n, 'b'));
  c->send_raw(batch);
  for (size_t n : kSizes) {
    INFO("message of " << n << " bytes");
    c->expect_message(n % 2 ? kText : kBinary, std::string(n, 'b'));
  }
}

TEST_CASE("ws 1.5 unmasked frame and a 64-bit length with the top bit set -> 1002") {
  WsHost& host = WsHost::shared();
  Frame unmasked = frame(kText, "no mask");
  unmasked.masked = false;
  expect_failure(host, encode(unmasked), 1002);

  Frame huge = frame(kBinary, "");
  huge.length_bits = 64;
  huge.declared_length = 0x8000000000000005ull;
  expect_failure(host, encode(huge), 1002);
  host.still_serves();
}

// --- 2: ping / pong ---------------------------------------------------------------------

TEST_CASE("ws 2.1 ping with payloads 0..125 (text and binary) -> identical pong") {
  WsHost& host = WsHost::shared();
  auto c = host.open();
  for (size_t n : {0, 1, 10, 124, 125}) {
    INFO("ping of " << n << " bytes");
    c->send(frame(kPing, std::string(n, 'p')));
    c->expect_message(kPong, std::string(n, 'p'));
    c->send(frame(kPing, all_bytes(n)));
    c->expect_message(kPong, all_bytes(n));
  }
}

TEST_CASE("ws 2.2 ping with 126 bytes (and a 16-bit length) -> 1002") {
  WsHost& host = WsHost::shared();
  expect_failure(host, encode(frame(kPing, std::string(126, 'p'))), 1002);
  Frame f = frame(kPing, "short");
  f.length_bits = 16;  // a control frame may not use the extended length at all
  f.declared_length = 200;
  expect_failure(host, encode(f) + std::string(195, 'x'), 1002);
  host.still_serves();
}

TEST_CASE("ws 2.3 unsolicited pong is ignored") {
  WsHost& host = WsHost::shared();
  auto c = host.open();
  c->send(frame(kPong, "unsolicited"));
  c->send(frame(kPong, ""));
  c->expect_echo(kText, "after the pongs");  // nothing else came first
  CHECK(c->quiet(100));
}

TEST_CASE("ws 2.4 ten pings in a row -> ten pongs in order") {
  WsHost& host = WsHost::shared();
  auto c = host.open();
  std::string batch;
  for (int i = 0; i < 10; ++i) batch += encode(frame(kPing, "ping " + std::to_string(i)));
  c->send_raw(batch);
  for (int i = 0; i < 10; ++i) c->expect_message(kPong, "ping " + std::to_string(i));
  // and once more, each ping in its own write, one byte at a time
  for (int i = 0; i < 10; ++i) c->send_chunked(encode(frame(kPing, std::to_string(i))), 1, 0);
  for (int i = 0; i < 10; ++i) c->expect_message(kPong, std::to_string(i));
}

// --- 3: reserved bits -------------------------------------------------------------------

namespace {

// Sends each of text, binary, ping, pong and close with the given RSV bits after a good
// message, on fresh connections: each must get 1002 after the good one's echo.
void check_rsv(WsHost& host, bool r1, bool r2, bool r3) {
  for (uint8_t op : {kText, kBinary, kPing, kPong, kClose}) {
    INFO("rsv " << r1 << r2 << r3 << " opcode " << int(op));
    Frame f = frame(op, op == kClose ? close_payload(1000) : "reserved");
    f.rsv1 = r1;
    f.rsv2 = r2;
    f.rsv3 = r3;
    expect_failure(host, encode(f), 1002);
  }
  host.still_serves();
}

}  // namespace

TEST_CASE("ws 3.1 RSV1 without permessage-deflate -> 1002, after the message before") {
  WsHost& host = WsHost::shared();
  check_rsv(host, true, false, false);
}

TEST_CASE("ws 3.2 RSV2 -> 1002") {
  WsHost& host = WsHost::shared();
  check_rsv(host, false, true, false);
}

TEST_CASE("ws 3.3 RSV3 -> 1002") {
  WsHost& host = WsHost::shared();
  check_rsv(host, false, false, true);
}

TEST_CASE("ws 3.4 several RSV bits, and RSV on a continuation -> 1002") {
  WsHost& host = WsHost::shared();
  check_rsv(host, true, true, false);
  check_rsv(host, true, true, true);
  Frame cont = frame(kContinuation, "b");
  cont.rsv2 = true;
  expect_failure(host, encode(frame(kText, "a", false)) + encode(cont), 1002);
}

// --- 4: opcodes -------------------------------------------------------------------------

TEST_CASE("ws 4.1 reserved data opcodes 3-7 -> 1002") {
  WsHost& host = WsHost::shared();
  for (uint8_t op : {3, 4, 5, 6, 7}) {
    INFO("opcode " << int(op));
    expect_failure(host, encode(frame(op, op % 2 ? "data" : "")), 1002);
  }
  host.still_serves();
}

TEST_CASE("ws 4.2 reserved control opcodes 11-15 -> 1002") {
  WsHost& host = WsHost::shared();
  for (uint8_t op : {11, 12, 13, 14, 15}) {
    INFO("opcode " << int(op));
    expect_failure(host, encode(frame(op, op % 2 ? "ctrl" : "")), 1002);
  }
  host.still_serves();
}

TEST_CASE("ws 4.3 reserved opcode in the middle of a fragmented message -> 1002") {
  WsHost& host = WsHost::shared();
  for (uint8_t op : {5, 13}) {
    INFO("opcode " << int(op));
    expect_failure(host,
                   encode(frame(kText, "frag", false)) + encode(frame(op, "")) +
                       encode(frame(kContinuation, "ment")),
                   1002);
  }
  host.still_serves();
}

// --- 5: fragmentation -------------------------------------------------------------------

TEST_CASE("ws 5.1 text and binary in 2..N fragments") {
  WsHost& host = WsHost::shared();
  auto c = host.open();
  const std::string text = "Fragmented text message, reassembled by the server.";
  const std::string bin = random_bytes(5000, 5);
  for (size_t n : {2, 3, 7, 50, 100}) {
    INFO(n << " fragments");
    c->send_raw(fragments(kText, text, n));
    c->expect_message(kText, text);
    c->send_raw(fragments(kBinary, bin, n));
    c->expect_message(kBinary, bin);
  }
  // fragments in separate writes with pauses, so they arrive in separate reads
  c->send_chunked(fragments(kText, text, 4), 17, 2);
  c->expect_message(kText, text);
}

TEST_CASE("ws 5.2 pings between fragments: pongs come before the echo") {
  WsHost& host = WsHost::shared();
  auto c = host.open();
  std::string bytes = encode(frame(kText, "one ", false)) + encode(frame(kPing, "p1")) +
                      encode(frame(kContinuation, "two ", false)) +
                      encode(frame(kPong, "unsolicited")) + encode(frame(kPing, "p2")) +
                      encode(frame(kContinuation, "three"));
  c->send_raw(bytes);
  c->expect_message(kPong, "p1");
  c->expect_message(kPong, "p2");
  c->expect_message(kText, "one two three");
  // the same, one frame per write
  c->send(frame(kBinary, "a", false));
  c->send(frame(kPing, "mid"));
  c->expect_message(kPong, "mid");  // answered while the message is still open
  c->send(frame(kContinuation, "b"));
  c->expect_message(kBinary, "ab");
}

TEST_CASE("ws 5.3 continuation without a message in progress -> 1002") {
  WsHost& host = WsHost::shared();
  expect_failure(host, encode(frame(kContinuation, "orphan")), 1002);
  expect_failure(host, encode(frame(kContinuation, "orphan", false)), 1002);
  // a continuation right after a finished fragmented message
  auto c = host.open();
  c->send_raw(fragments(kText, "done", 2) + encode(frame(kContinuation, "late")));
  c->expect_message(kText, "done");
  c->expect_close(1002);
  host.still_serves();
}

TEST_CASE("ws 5.4 a new data frame during a fragmented message -> 1002") {
  WsHost& host = WsHost::shared();
  expect_failure(host, encode(frame(kText, "a", false)) + encode(frame(kText, "b")), 1002);
  expect_failure(host, encode(frame(kText, "a", false)) + encode(frame(kBinary, "b")), 1002);
  expect_failure(host, encode(frame(kBinary, "a", false)) + encode(frame(kText, "b", false)), 1002);
  host.still_serves();
}

TEST_CASE("ws 5.5 fragmented ping and fragmented close -> 1002") {
  WsHost& host = WsHost::shared();
  expect_failure(host, encode(frame(kPing, "frag", false)) + encode(frame(kContinuation, "ping")),
                 1002);
  expect_failure(
      host, encode(frame(kClose, close_payload(1000), false)) + encode(frame(kContinuation, "")),
      1002);
  host.still_serves();
}

TEST_CASE("ws 5.6 empty fragments") {
  WsHost& host = WsHost::shared();
  auto c = host.open();
  c->send_raw(encode(frame(kText, "", false)) + encode(frame(kContinuation, "x", false)) +
              encode(frame(kContinuation, "", false)) + encode(frame(kContinuation, "")));
  c->expect_message(kText, "x");
  c->send_raw(fragments(kBinary, "", 3));
  c->expect_message(kBinary, "");
  c->send_raw(fragments(kText, "ab", 5));  // several of the five are empty
  c->expect_message(kText, "ab");
}
