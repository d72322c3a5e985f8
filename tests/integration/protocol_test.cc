// The decode path with a framing protocol: frames split across reads (leftovers kept in
// the ring buffer), many frames per read, replies gathered with headers, and a decode
// error that closes only its own connection.
#include <doctest/doctest.h>

#include <random>
#include <string>
#include <thread>

#include "test_client.h"
#include "test_handlers.h"

using namespace gev;
using namespace gev::test;

namespace {

// gev's example protocol: a 4-byte big-endian length, then the payload.
class LengthPrefixed : public Protocol {
 public:
  static constexpr uint32_t kMax = 8u << 20;
  DecodeResult decode(Connection&, std::span<const uint8_t> in) override {
    if (in.size() < 4) return DecodeResult::need_more();
    uint32_t len =
        (uint32_t{in[0]} << 24) | (uint32_t{in[1]} << 16) | (uint32_t{in[2]} << 8) | in[3];
    if (len > kMax) return DecodeResult::fail("frame too large");
    if (in.size() < 4 + size_t{len}) return DecodeResult::need_more();
    return DecodeResult::frame_of(4 + size_t{len}, Frame{in.subspan(4, len), 0, {}});
  }
  void encode(Connection&, const Frame& msg, WriteBatch& out) override {
    uint8_t* h = out.alloc(4);
    uint32_t len = static_cast<uint32_t>(msg.data.size());
    h[0] = static_cast<uint8_t>(len >> 24);
    h[1] = static_cast<uint8_t>(len >> 16);
    h[2] = static_cast<uint8_t>(len >> 8);
    h[3] = static_cast<uint8_t>(len);
    out.append(msg.data);
  }
};

std::string frame(const std::string& payload) {
  uint32_t len = static_cast<uint32_t>(payload.size());
  std::string f = {static_cast<char>(len >> 24), static_cast<char>(len >> 16),
                   static_cast<char>(len >> 8), static_cast<char>(len)};
  return f + payload;
}

}  // namespace

TEST_CASE("frames split at random points across reads decode and echo intact") {
  RecordingEcho handler;
  LengthPrefixed protocol;
  Server server(handler, test_options(1), &protocol);
  server.start();
  TestClient c(server.port());
  std::mt19937 rng(42);
  std::string stream, want;
  int frames = 0;
  auto add = [&](size_t size, uint32_t seed) {
    std::string f = frame(random_bytes(size, seed));
    stream += f;
    want += f;  // an empty frame is echoed as an empty frame (its view is not null)
    ++frames;
  };
  for (size_t size : {size_t{0}, size_t{1}, size_t{3}, size_t{100}, size_t{70000}, size_t{1} << 20,
                      size_t{5}, size_t{65532}, size_t{65536}})
    add(size, static_cast<uint32_t>(size) + 1);
  for (int i = 0; i < 500; ++i) add(rng() % 300, static_cast<uint32_t>(i));
  // Send in random-sized pieces with small pauses so the server sees partial frames.
  std::thread writer([&] {
    size_t at = 0;
    while (at < stream.size()) {
      size_t n = std::min<size_t>(stream.size() - at, 1 + rng() % 90000);
      if (!c.send_all(stream.data() + at, n)) return;
      at += n;
      if (rng() % 4 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  std::string got = c.recv_exact(want.size(), 20000);
  writer.join();
  CHECK(got.size() == want.size());
  CHECK(got == want);
  CHECK(handler.messages_.load() == frames);
}

TEST_CASE("a decode error closes that connection only, after its earlier replies") {
  RecordingEcho handler;
  LengthPrefixed protocol;
  Server server(handler, test_options(1), &protocol);
  server.start();
  TestClient good(server.port());
  TestClient bad(server.port());
  std::string ok = frame("fine");
  REQUIRE(bad.send_all(ok + std::string("\x7f\xff\xff\xff", 4)));  // then a 2 GiB claim
  CHECK(bad.recv_until_eof(3000) == ok);  // the good frame's reply, then the close
  CHECK(bad.eof());
  REQUIRE(wait_until([&] { return handler.closed_for(CloseReason::kDecodeError) == 1; }));
  CHECK(good.echo(frame("still")) == frame("still"));
}

TEST_CASE("undecoded input over max_read_buffer closes the connection") {
  RecordingEcho handler;
  LengthPrefixed protocol;
  Options o = test_options(1);
  o.max_read_buffer = 256 << 10;
  Server server(handler, o, &protocol);
  server.start();
  TestClient c(server.port());
  // A legal 4 MiB frame header, then more body than the server may hold undecoded.
  std::string big = frame(random_bytes(4 << 20, 1)).substr(0, 1 << 20);
  c.send_all(big);
  CHECK(c.wait_closed(3000));
  REQUIRE(wait_until([&] { return handler.closed_for(CloseReason::kInputOverflow) == 1; }));
}
