// The built-in modules length_field, line, push and max_conn, end to end: the real
// gev-host binary, the module .so files in a fresh module directory, 127.0.0.1 sockets.
#include <doctest/doctest.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <functional>
#include <iterator>
#include <regex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "host_fixture.h"
#include "host_process.h"
#include "test_client.h"

using namespace gev::test;

namespace {

using Clock = std::chrono::steady_clock;

std::string lf_header(uint64_t len, int bytes = 4, bool big = true) {
  std::string h(static_cast<size_t>(bytes), '\0');
  for (int i = 0; i < bytes; ++i)
    h[static_cast<size_t>(big ? bytes - 1 - i : i)] = static_cast<char>(len >> (8 * i));
  return h;
}

// One length_field frame: header + payload.
std::string lf_frame(std::string_view payload, int bytes = 4, bool big = true) {
  return lf_header(payload.size(), bytes, big) + std::string(payload);
}

// Reads until done(everything so far) holds, EOF, or timeout_ms; returns what arrived.
std::string read_until(TestClient& c, const std::function<bool(const std::string&)>& done,
                       int timeout_ms) {
  std::string out;
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!done(out)) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) break;
    pollfd p{c.fd(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
    char buf[4096];
    ssize_t r = ::recv(c.fd(), buf, sizeof buf, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    out.append(buf, static_cast<size_t>(r));
  }
  return out;
}

// Sends `pieces` as separate writes with a pause between, so the host reads them apart.
void send_in_pieces(TestClient& c, const std::vector<std::string>& pieces) {
  for (const std::string& p : pieces) {
    REQUIRE(c.send_all(p));
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
  }
}

const std::regex kPush("push ([0-9]+)\n");

size_t count_pushes(const std::string& s) {
  return static_cast<size_t>(
      std::distance(std::sregex_iterator(s.begin(), s.end(), kPush), std::sregex_iterator()));
}

std::string without_pushes(const std::string& s) {
  return std::regex_replace(s, kPush, "");
}

}  // namespace

// ---------------------------------------------------------------- length_field

TEST_CASE("length_field: echo of frames of many sizes, several per write, 1 MiB included") {
  ModuleDir dir{"length_field", "echo"};
  HostProcess host(GEV_HOST_PATH, args(dir, "length_field", "echo"));
  REQUIRE_MESSAGE(host.listening(), host.log());
  TestClient c(host.port());
  for (size_t size : {size_t{1}, size_t{255}, size_t{256}, size_t{65535}, size_t{65536},
                      size_t{100000}, size_t{1} << 20}) {
    std::string frame = lf_frame(random_bytes(size, static_cast<uint32_t>(size)));
    CHECK(c.echo(frame) == frame);
  }
  std::string many = lf_frame("one") + lf_frame("two") + lf_frame(random_bytes(3000, 7));
  CHECK(c.echo(many) == many);
  // A zero-length frame is a message: echo answers it with a zero-length frame (a reply
  // is "none" only when its pointer is null, not when it is empty).
  std::string with_empty = lf_frame("") + lf_frame("after") + lf_frame("");
  REQUIRE(c.send_all(with_empty));
  CHECK(c.recv_exact(with_empty.size(), 3000) == with_empty);
  CHECK(c.recv_exact(1, 300).empty());
  CHECK_FALSE(c.eof());
  CHECK(contains(host.log(), "loaded module length_field"));
}

TEST_CASE("length_field: frames split across writes anywhere, header included") {
  ModuleDir dir{"length_field", "echo"};
  HostProcess host(GEV_HOST_PATH, args(dir, "length_field", "echo"));
  REQUIRE_MESSAGE(host.listening(), host.log());
  TestClient c(host.port());
  std::string a = lf_frame("hello world");
  std::string b = lf_frame(random_bytes(5000, 11));
  std::string d = lf_frame("x");
  std::string all = a + b + d;
  // Cuts: inside a's header, inside a's payload, a's end + half of b's header, inside
  // b's payload, b's end + all of d but its last byte, then that byte.
  send_in_pieces(c, {all.substr(0, 1), all.substr(1, 2), all.substr(3, 5),
                     all.substr(8, a.size() + 2 - 8), all.substr(a.size() + 2, 2000),
                     all.substr(a.size() + 2002, all.size() - 1 - (a.size() + 2002)),
                     all.substr(all.size() - 1)});
  CHECK(c.recv_exact(all.size(), 5000) == all);
  // One byte per write.
  std::string e = lf_frame("bytewise");
  std::vector<std::string> bytes;
  for (char ch : e) bytes.emplace_back(1, ch);
  send_in_pieces(c, bytes);
  CHECK(c.recv_exact(e.size(), 3000) == e);
}

TEST_CASE("length_field: a 2-byte little-endian header set with --module-opt") {
  ModuleDir dir{"length_field", "echo"};
  HostProcess host(GEV_HOST_PATH, args(dir, "length_field", "echo",
                                       {"--module-opt", "length_field.bytes=2", "--module-opt",
                                        "length_field.endian=little"}));
  REQUIRE_MESSAGE(host.listening(), host.log());
  TestClient c(host.port());
  std::string payload = random_bytes(300, 3);
  std::string frame = lf_frame(payload, 2, false);
  REQUIRE(frame.substr(0, 2) == std::string("\x2c\x01", 2));  // 300, least significant first
  CHECK(c.echo(frame) == frame);
  std::string biggest = lf_frame(random_bytes(65535, 5), 2, false);
  CHECK(c.echo(biggest) == biggest);
  std::string two = lf_frame("a", 2, false) + lf_frame("bc", 2, false);
  CHECK(c.echo(two) == two);
}

TEST_CASE("length_field: a length over max_frame closes only that connection, with a reason") {
  ModuleDir dir{"length_field", "echo"};
  HostProcess host(GEV_HOST_PATH,
                   args(dir, "length_field", "echo",
                        {"--module-opt", "length_field.max_frame=1024", "--log-level", "debug"}));
  REQUIRE_MESSAGE(host.listening(), host.log());
  TestClient good(host.port());
  TestClient bad(host.port());
  std::string at_limit = lf_frame(random_bytes(1024, 9));
  REQUIRE(good.echo(at_limit) == at_limit);
  // The header alone is enough to refuse: the payload is never awaited.
  REQUIRE(bad.send_all(lf_header(1025)));
  CHECK(bad.wait_closed(3000));
  CHECK(good.echo(at_limit) == at_limit);
  CHECK(wait_until(
      [&] { return contains(host.log(), "frame length exceeds length_field.max_frame"); }, 3000));
}

TEST_CASE("length_field: a bad config refuses the module, naming the option") {
  struct Bad {
    const char* opt;
    const char* named;
  };
  for (Bad bad : {Bad{"length_field.bytes=3", "length_field.bytes must be 1, 2, 4 or 8"},
                  Bad{"length_field.endian=middle", "length_field.endian must be big or little"},
                  Bad{"length_field.max_frame=-1", "length_field.max_frame wants a non-negative"},
                  Bad{"length_field.byte=2", "unknown option length_field.byte"}}) {
    CAPTURE(bad.opt);
    ModuleDir dir{"length_field", "echo"};
    HostProcess host(GEV_HOST_PATH, args(dir, "length_field", "echo", {"--module-opt", bad.opt}));
    CHECK_FALSE(host.listening());
    CHECK(host.wait_exit() == 1);  // the listener needs the refused module
    const std::string& log = host.log();
    INFO(log);
    CHECK(contains(log, bad.named));
    CHECK(contains(
        log, "refused module " + (dir.path / "length_field.so").string() + ": create() failed"));
    CHECK(contains(log, "(listener 'main' needs 'length_field' as its protocol)"));
    CHECK_FALSE(contains(log, "no protocol module named"));
  }
}

// ---------------------------------------------------------------- line

TEST_CASE("line: echo of several lines per write, lines split across writes, empty lines") {
  ModuleDir dir{"line", "echo"};
  HostProcess host(GEV_HOST_PATH, args(dir, "line", "echo"));
  REQUIRE_MESSAGE(host.listening(), host.log());
  TestClient c(host.port());
  CHECK(c.echo("a\nbb\nccc\n") == "a\nbb\nccc\n");
  send_in_pieces(c, {"hel", "lo\nwor", "ld", "\n"});
  CHECK(c.recv_exact(12, 3000) == "hello\nworld\n");
  std::string longest(64 * 1024, 'x');  // max_length exactly (the delimiter not counted)
  CHECK(c.echo(longest + "\n") == longest + "\n");
  // An empty line is an empty message, echoed as an empty line.
  REQUIRE(c.send_all("\nafter\n\n"));
  CHECK(c.recv_exact(8, 3000) == "\nafter\n\n");
  CHECK(c.recv_exact(1, 300).empty());
  CHECK_FALSE(c.eof());
}

TEST_CASE("line: the delimiter option understands escapes") {
  SUBCASE("\\r\\n") {
    ModuleDir dir{"line", "echo"};
    HostProcess host(GEV_HOST_PATH,
                     args(dir, "line", "echo", {"--module-opt", "line.delimiter=\\r\\n"}));
    REQUIRE_MESSAGE(host.listening(), host.log());
    TestClient c(host.port());
    CHECK(c.echo("one\r\ntwo\r\n") == "one\r\ntwo\r\n");
    CHECK(c.echo("a\nb\r\n") == "a\nb\r\n");  // a lone \n is part of the line
    send_in_pieces(c, {"abc\r", "\n"});       // the delimiter itself split
    CHECK(c.recv_exact(5, 3000) == "abc\r\n");
  }
  SUBCASE("\\0") {
    ModuleDir dir{"line", "echo"};
    HostProcess host(GEV_HOST_PATH,
                     args(dir, "line", "echo", {"--module-opt", "line.delimiter=\\0"}));
    REQUIRE_MESSAGE(host.listening(), host.log());
    TestClient c(host.port());
    std::string msg("x\ny\0z\0", 6);
    CHECK(c.echo(msg) == msg);
  }
  SUBCASE("a bad escape refuses the module") {
    ModuleDir dir{"line", "echo"};
    HostProcess host(GEV_HOST_PATH,
                     args(dir, "line", "echo", {"--module-opt", "line.delimiter=\\q"}));
    CHECK(host.wait_exit() == 1);
    CHECK(contains(host.log(), "line.delimiter: unknown escape"));
  }
}

TEST_CASE("line: a line over max_length closes only that connection") {
  ModuleDir dir{"line", "echo"};
  HostProcess host(
      GEV_HOST_PATH,
      args(dir, "line", "echo", {"--module-opt", "line.max_length=16", "--log-level", "debug"}));
  REQUIRE_MESSAGE(host.listening(), host.log());
  TestClient good(host.port());
  TestClient no_delimiter(host.port());
  TestClient too_long(host.port());
  std::string sixteen(16, 'y');
  REQUIRE(good.echo(sixteen + "\n") == sixteen + "\n");
  REQUIRE(no_delimiter.send_all(std::string(17, 'x')));
  CHECK(no_delimiter.wait_closed(3000));
  REQUIRE(too_long.send_all(std::string(17, 'x') + "\n"));
  CHECK(too_long.wait_closed(3000));
  CHECK(good.echo("still\n") == "still\n");
  CHECK(wait_until(
      [&] { return contains(host.log(), "no delimiter within line.max_length bytes"); }, 3000));
}

// ---------------------------------------------------------------- push

TEST_CASE("push: every connection gets the periodic message while echo goes on") {
  ModuleDir dir{"raw", "push"};
  HostProcess host(GEV_HOST_PATH,
                   args(dir, "raw", "push", {"--module-opt", "push.interval_ms=200"}));
  REQUIRE_MESSAGE(host.listening(), host.log());
  TestClient listener(host.port());
  TestClient talker(host.port());
  // Pushes reach the talker too: they arrive whole, between echo replies.
  REQUIRE(talker.send_all("hello from talker"));
  std::string echoed = read_until(
      talker, [](const std::string& s) { return without_pushes(s) == "hello from talker"; }, 3000);
  CHECK(without_pushes(echoed) == "hello from talker");
  auto start = Clock::now();
  std::string pushed = read_until(
      listener, [](const std::string& s) { return count_pushes(s) >= 2; }, 3000);
  INFO(pushed);
  CHECK(count_pushes(pushed) >= 2);
  CHECK(Clock::now() - start < std::chrono::milliseconds(3000));
  CHECK(without_pushes(pushed).empty());  // nothing but whole push messages
  // The counter goes up from one push to the next.
  std::smatch m;
  REQUIRE(std::regex_search(pushed, m, kPush));
  uint64_t first = std::stoull(m[1]);
  std::string rest = m.suffix();
  REQUIRE(std::regex_search(rest, m, kPush));
  CHECK(std::stoull(m[1]) == first + 1);
  host.terminate();  // loop_fini cancels the timers, then destroy
  CHECK(host.wait_exit(0) == 0);
}

// ---------------------------------------------------------------- max_conn

TEST_CASE("max_conn: above the limit a client is told and closed; a freed slot serves again") {
  ModuleDir dir{"raw", "max_conn"};
  HostProcess host(GEV_HOST_PATH,
                   args(dir, "raw", "max_conn", {"--module-opt", "max_conn.limit=2"}));
  REQUIRE_MESSAGE(host.listening(), host.log());
  TestClient a(host.port());
  TestClient b(host.port());
  REQUIRE(a.echo("a") == "a");  // both counted before the third arrives
  REQUIRE(b.echo("b") == "b");
  TestClient third(host.port());
  CHECK(third.recv_until_eof(3000) == "server is full\n");
  CHECK(third.eof());
  a.close();
  // The host notices a's FIN soon; until then newcomers are refused (each refusal gives
  // its slot back). A refused client reads "server is full\n" (or a reset), never "ping".
  bool served = false;
  TestClient d;
  auto deadline = Clock::now() + std::chrono::seconds(5);
  while (!served && Clock::now() < deadline) {
    REQUIRE(d.connect(host.port()));
    served = d.echo("ping", 1000) == "ping";
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(served);
  CHECK(b.echo("b again") == "b again");
  // b and d hold both slots: refusals did not leak any.
  TestClient e(host.port());
  CHECK(e.recv_until_eof(3000) == "server is full\n");
  CHECK(e.eof());
  CHECK(d.echo("still served") == "still served");
}
