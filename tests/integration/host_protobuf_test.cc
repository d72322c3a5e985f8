// The built-in protobuf protocol (gev's protobuf plugin framing) end to end: the real
// gev-host, protobuf.so and echo.so in a fresh module directory, 127.0.0.1 sockets.
// Wire form: [u32 BE length of all that follows][u16 BE name length][name][payload].
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "host_fixture.h"
#include "host_process.h"
#include "test_client.h"

using namespace gev::test;

namespace {

std::string be(uint64_t v, int bytes) {
  std::string out(static_cast<size_t>(bytes), '\0');
  for (int i = 0; i < bytes; ++i)
    out[static_cast<size_t>(bytes - 1 - i)] = static_cast<char>(v >> (8 * i));
  return out;
}

// One frame as Go's protobuf.PackMessage builds it.
std::string pb_frame(std::string_view name, std::string_view payload) {
  return be(2 + name.size() + payload.size(), 4) + be(name.size(), 2) + std::string(name) +
         std::string(payload);
}

void pause_briefly() {
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

}  // namespace

TEST_CASE("protobuf: echo of frames of many sizes and type names, many frames per write") {
  ModuleDir dir{"protobuf", "echo"};
  HostProcess host(GEV_HOST_PATH, args(dir, "protobuf", "echo"));
  REQUIRE_MESSAGE(host.listening(), host.log());
  TestClient c(host.port());
  // The header layout itself, against a hand-written frame.
  REQUIRE(pb_frame("T", "ab") == std::string("\0\0\0\x05\0\x01Tab", 9));
  for (size_t size : {size_t{1}, size_t{255}, size_t{65536}, size_t{1} << 20}) {
    std::string frame =
        pb_frame("gev.example.Blob", random_bytes(size, static_cast<uint32_t>(size)));
    CHECK(c.echo(frame) == frame);
  }
  // The type name comes back as sent: empty, short, binary, the u16 maximum.
  for (const std::string& name : {std::string(), std::string("gev.example.Add"),
                                  std::string("\0\xff name", 7), random_bytes(65535, 4)}) {
    std::string frame = pb_frame(name, "payload");
    CHECK(c.echo(frame) == frame);
  }
  // A frame at exactly the default max_frame (4 MiB counted after the u32).
  std::string name = "at.Limit";
  std::string largest = pb_frame(name, random_bytes((size_t{4} << 20) - 2 - name.size(), 8));
  CHECK(c.echo(largest) == largest);
  // 1000 frames in one write, each with its own name and size.
  std::string many;
  for (uint32_t i = 0; i < 1000; ++i)
    many += pb_frame("type." + std::to_string(i % 7), random_bytes(1 + i % 300, i));
  CHECK(c.echo(many) == many);
  // An empty payload (with or without a name) is a message: echoed as it came.
  std::string with_empty = pb_frame("Empty", "") + pb_frame("After", "x") + pb_frame("", "");
  REQUIRE(c.send_all(with_empty));
  CHECK(c.recv_exact(with_empty.size(), 3000) == with_empty);
  CHECK(c.recv_exact(1, 300).empty());
  CHECK_FALSE(c.eof());
  CHECK(contains(host.log(), "loaded module protobuf"));
}

TEST_CASE("protobuf: frames split at every byte boundary, and one byte per write") {
  ModuleDir dir{"protobuf", "echo"};
  HostProcess host(GEV_HOST_PATH, args(dir, "protobuf", "echo"));
  REQUIRE_MESSAGE(host.listening(), host.log());
  TestClient c(host.port());
  const std::string all = pb_frame("gev.example.Echo", "hello") + pb_frame("", "x") +
                          pb_frame("Empty", "") + pb_frame("n", random_bytes(40, 2));
  // Every cut: inside either length field, the name, the payload, between frames.
  for (size_t cut = 1; cut < all.size(); ++cut) {
    CAPTURE(cut);
    REQUIRE(c.send_all(all.substr(0, cut)));
    pause_briefly();  // so the host reads the two parts apart
    REQUIRE(c.send_all(all.substr(cut)));
    REQUIRE(c.recv_exact(all.size(), 3000) == all);
  }
  const std::string one = pb_frame("bytewise.Type", "byte by byte");
  for (char ch : one) {
    REQUIRE(c.send_all(std::string(1, ch)));
    pause_briefly();
  }
  CHECK(c.recv_exact(one.size(), 3000) == one);
}

TEST_CASE("protobuf: a declared length over max_frame closes only that connection") {
  SUBCASE("the default, 4 MiB") {
    ModuleDir dir{"protobuf", "echo"};
    HostProcess host(GEV_HOST_PATH, args(dir, "protobuf", "echo", {"--log-level", "debug"}));
    REQUIRE_MESSAGE(host.listening(), host.log());
    TestClient good(host.port());
    TestClient bad(host.port());
    REQUIRE(good.echo(pb_frame("A", "before")) == pb_frame("A", "before"));
    // The 4-byte length alone is refused: neither the rest nor the payload is awaited.
    REQUIRE(bad.send_all(be((uint64_t{4} << 20) + 1, 4)));
    CHECK(bad.wait_closed(3000));
    CHECK(good.echo(pb_frame("A", "after")) == pb_frame("A", "after"));
    CHECK(wait_until(
        [&] { return contains(host.log(), "frame length exceeds protobuf.max_frame"); }, 3000));
  }
  SUBCASE("set with --module-opt, the largest u32 too") {
    ModuleDir dir{"protobuf", "echo"};
    HostProcess host(GEV_HOST_PATH,
                     args(dir, "protobuf", "echo", {"--module-opt", "protobuf.max_frame=1024"}));
    REQUIRE_MESSAGE(host.listening(), host.log());
    TestClient good(host.port());
    std::string at_limit = pb_frame("N", random_bytes(1024 - 3, 5));
    REQUIRE(good.echo(at_limit) == at_limit);
    for (uint64_t len : {uint64_t{1025}, uint64_t{UINT32_MAX}}) {
      CAPTURE(len);
      TestClient bad(host.port());
      REQUIRE(bad.send_all(be(len, 4) + be(1, 2) + "N"));
      CHECK(bad.wait_closed(3000));
    }
    CHECK(good.echo(at_limit) == at_limit);
  }
}

TEST_CASE("protobuf: inconsistent frames close only that connection, with a reason") {
  ModuleDir dir{"protobuf", "echo"};
  HostProcess host(GEV_HOST_PATH, args(dir, "protobuf", "echo", {"--log-level", "debug"}));
  REQUIRE_MESSAGE(host.listening(), host.log());
  TestClient good(host.port());
  struct Bad {
    std::string bytes;
    const char* reason;
  };
  const char* kNameTooLong = "type-name length exceeds the frame length";
  const char* kTooShort = "frame length shorter than 2";
  for (const Bad& bad : {Bad{be(5, 4) + be(4, 2) + "abcd", kNameTooLong},  // name 4 of 3
                         Bad{be(2, 4) + be(1, 2), kNameTooLong},           // no room at all
                         Bad{be(1, 4) + "x", kTooShort}, Bad{be(0, 4), kTooShort}}) {
    CAPTURE(bad.reason);
    TestClient c(host.port());
    REQUIRE(c.send_all(bad.bytes));
    CHECK(c.wait_closed(3000));
    CHECK(wait_until([&] { return contains(host.log(), bad.reason); }, 3000));
    CHECK(good.echo(pb_frame("Ok", "still")) == pb_frame("Ok", "still"));
  }
  // The name exactly filling the frame is consistent: an empty payload, echoed.
  TestClient edge(host.port());
  const std::string name_only = be(5, 4) + be(3, 2) + "abc";
  REQUIRE(name_only == pb_frame("abc", ""));
  REQUIRE(edge.send_all(name_only + pb_frame("Z", "z")));
  CHECK(edge.recv_exact(name_only.size() + 8, 3000) == name_only + pb_frame("Z", "z"));
}

TEST_CASE("protobuf: a bad config refuses the module, naming the option") {
  for (const char* opt : {"protobuf.max_frame=1", "protobuf.max_size=10"}) {
    CAPTURE(opt);
    ModuleDir dir{"protobuf", "echo"};
    HostProcess host(GEV_HOST_PATH, args(dir, "protobuf", "echo", {"--module-opt", opt}));
    CHECK_FALSE(host.listening());
    CHECK(host.wait_exit() == 1);
    const std::string& log = host.log();
    INFO(log);
    CHECK((contains(log, "protobuf.max_frame must be at least 2") ||
           contains(log, "unknown option protobuf.max_size")));
    CHECK(contains(log, "(listener 'main' needs 'protobuf' as its protocol)"));
  }
}
