// The websocket module end to end, Autobahn|Testsuite group 9 (large messages, many
// fragments, many pipelined frames) and the max_message limit (close 1009).
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "test_client.h"
#include "ws_test_util.h"

using namespace gev::test;
using namespace gev::test::ws;

namespace {

constexpr size_t kMiB = 1 << 20;

// Printable, varied text (so a lazy UTF-8 check or a copy bug shows).
std::string text_of(size_t n) {
  std::string s(n, ' ');
  for (size_t i = 0; i < n && i < 9973; ++i) s[i] = static_cast<char>('!' + (i * 31 + i / 97) % 90);
  // The rest repeats the first 9973 bytes (a prime, so not aligned with anything).
  for (size_t i = 9973; i < n; ++i) s[i] = s[i - 9973];
  return s;
}

}  // namespace

TEST_CASE("ws 9.1 messages of 1, 4 and 16 MiB (16 MiB is exactly max_message)") {
  WsHost& host = WsHost::shared();
  auto c = host.open();
  c->expect_echo(kText, text_of(kMiB));
  c->expect_echo(kBinary, random_bytes(4 * kMiB, 4));
  const std::string big = text_of(16 * kMiB);
  c->send_message(kText, big);
  c->expect_message(kText, big, 30000);
}

TEST_CASE("ws 9.2 a 64 KiB message in 1000 fragments") {
  WsHost& host = WsHost::shared();
  auto c = host.open();
  const std::string text = text_of(64 * 1024);
  c->send_raw(fragments(kText, text, 1000));
  c->expect_message(kText, text);
  const std::string bin = random_bytes(64 * 1024, 9);
  c->send_chunked(fragments(kBinary, bin, 1000), 4096, 0);
  c->expect_message(kBinary, bin);
}

// "m" + std::to_string(i) trips GCC 12's false -Wrestrict at -O3 (GCC bug 105651).
static std::string nth(int i) {
  std::string s = "m";
  s += std::to_string(i);
  return s;
}

TEST_CASE("ws 9.3 10000 small frames pipelined in one write, all echoed in order") {
  WsHost& host = WsHost::shared();
  auto c = host.open();
  std::string batch;
  for (int i = 0; i < 10000; ++i) batch += c->message_bytes(kText, nth(i));
  // Write on a helper thread: the echoes must be read while the batch is still going out.
  std::thread writer([&] { c->send_raw(batch); });
  for (int i = 0; i < 10000; ++i) {
    auto m = c->read_message();
    if (!m || m->payload != nth(i)) {
      FAIL_CHECK("echo #" << i << " is " << (m ? m->payload : std::string("missing")));
      break;
    }
  }
  writer.join();
}

TEST_CASE("ws 9.4 max_message: over the limit -> 1009, the declared length alone suffices") {
  SUBCASE("default 16 MiB: one byte over, only the header sent") {
    WsHost& host = WsHost::shared();
    auto c = host.open();
    Frame f = frame(kBinary, "");
    c->send_raw(encode_header(f, 16 * kMiB + 1));
    c->expect_close(1009);
    host.still_serves();
  }
  SUBCASE("max_message=65536") {
    WsHost host({"max_message=65536"});
    {
      auto c = host.open();
      c->expect_echo(kBinary, random_bytes(65536, 1));  // exactly the limit
      c->send_message(kBinary, random_bytes(65537, 2));
      c->expect_close(1009);
    }
    {
      auto c = host.open();  // only a header declaring 100000 bytes: no payload needed
      Frame f = frame(kText, "");
      c->send_raw(encode_header(f, 100000));
      c->expect_close(1009);
    }
    {
      auto c = host.open();  // fragments that pass one by one but not together
      c->send(frame(kText, text_of(40000), false));
      Frame second = frame(kContinuation, "");
      c->send_raw(encode_header(second, 30000));
      c->expect_close(1009);
    }
    {
      auto c = host.open();  // many small fragments adding up
      std::string bytes;
      for (int i = 0; i < 70; ++i)
        bytes += encode(frame(i ? kContinuation : kBinary, std::string(1000, 'f'), false));
      c->send_raw(bytes);
      c->expect_close(1009);
    }
    host.still_serves();
  }
}

TEST_CASE("ws 9.5 fifty connections at once, messages interleaved") {
  WsHost& host = WsHost::shared();
  std::vector<std::unique_ptr<WsClient>> clients;
  for (int i = 0; i < 50; ++i) clients.push_back(host.open());
  for (int round = 0; round < 3; ++round) {
    for (size_t i = 0; i < clients.size(); ++i)
      clients[i]->send_message(kBinary, random_bytes(1000 + i * 100, static_cast<uint32_t>(i)));
    for (size_t i = 0; i < clients.size(); ++i)
      clients[i]->expect_message(kBinary, random_bytes(1000 + i * 100, static_cast<uint32_t>(i)));
  }
  for (auto& c : clients) {
    c->send(frame(kClose, close_payload(1001)));
    c->expect_close(1001);
  }
}
