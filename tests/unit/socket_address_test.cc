// SocketAddress: parsing "host:port", rejecting malformed input, printing it back.
#include <doctest/doctest.h>
#include <gev/socket_address.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <optional>
#include <string>

using gev::SocketAddress;

TEST_CASE("SocketAddress parses IPv4") {
  std::optional<SocketAddress> a = SocketAddress::parse("127.0.0.1:80");
  REQUIRE(a.has_value());
  CHECK(a->family() == AF_INET);
  CHECK(a->port() == 80);
  CHECK(a->size() == sizeof(sockaddr_in));
  const auto* in = reinterpret_cast<const sockaddr_in*>(a->get());
  CHECK(in->sin_port == htons(80));
  CHECK(in->sin_addr.s_addr == htonl(INADDR_LOOPBACK));
  CHECK(a->to_string() == "127.0.0.1:80");

  std::optional<SocketAddress> hi = SocketAddress::parse("10.1.2.3:65535");
  REQUIRE(hi.has_value());
  CHECK(hi->port() == 65535);
  CHECK(hi->to_string() == "10.1.2.3:65535");
}

TEST_CASE("SocketAddress parses bracketed IPv6") {
  std::optional<SocketAddress> a = SocketAddress::parse("[::1]:8080");
  REQUIRE(a.has_value());
  CHECK(a->family() == AF_INET6);
  CHECK(a->port() == 8080);
  CHECK(a->size() == sizeof(sockaddr_in6));
  const auto* in6 = reinterpret_cast<const sockaddr_in6*>(a->get());
  CHECK(std::memcmp(&in6->sin6_addr, &in6addr_loopback, sizeof in6addr_loopback) == 0);
  CHECK(a->to_string() == "[::1]:8080");

  std::optional<SocketAddress> any = SocketAddress::parse("[::]:0");
  REQUIRE(any.has_value());
  CHECK(any->family() == AF_INET6);
  CHECK(any->to_string() == "[::]:0");
}

TEST_CASE("SocketAddress shorthands") {
  std::optional<SocketAddress> any = SocketAddress::parse(":0");
  REQUIRE(any.has_value());
  CHECK(any->family() == AF_INET);
  CHECK(any->port() == 0);
  CHECK(reinterpret_cast<const sockaddr_in*>(any->get())->sin_addr.s_addr == htonl(INADDR_ANY));
  CHECK(any->to_string() == "0.0.0.0:0");

  std::optional<SocketAddress> port_only = SocketAddress::parse(":9000");
  REQUIRE(port_only.has_value());
  CHECK(port_only->to_string() == "0.0.0.0:9000");

  std::optional<SocketAddress> local = SocketAddress::parse("localhost:1");
  REQUIRE(local.has_value());
  CHECK(local->family() == AF_INET);
  CHECK(local->port() == 1);
  CHECK(local->to_string() == "127.0.0.1:1");
}

TEST_CASE("SocketAddress::parse_numeric takes IP literals only (a dial resolves names)") {
  CHECK(SocketAddress::parse_numeric("127.0.0.1:80")->to_string() == "127.0.0.1:80");
  CHECK(SocketAddress::parse_numeric("[::1]:80")->to_string() == "[::1]:80");
  CHECK_FALSE(SocketAddress::parse_numeric("localhost:80").has_value());
  CHECK_FALSE(SocketAddress::parse_numeric(":80").has_value());
}

TEST_CASE("SocketAddress rejects malformed input") {
  const char* bad[] = {
      "1.2.3.4",        // no port
      "1.2.3.4:99999",  // port out of range
      "1.2.3.4:65536",
      "1.2.3.4:4294967296",  // overflows unsigned
      "x:1",                 // not an address (no name resolution)
      "[::1:80",             // unclosed bracket
      "::1:80",              // IPv6 needs brackets
      "[::1]",               // no port
      "[]:80",
      "[1.2.3.4]:80",  // IPv4 in brackets
      "1.2.3.4:",      // empty port
      "1.2.3.4:-1",
      "1.2.3.4:+80",
      "1.2.3.4:80x",
      "1.2.3.4: 80",
      "1.2.3.4:0x50",
      "1.2.3:80",
      "256.1.1.1:80",
      "",
      ":",
  };
  for (const char* text : bad) {
    CAPTURE(text);
    CHECK_FALSE(SocketAddress::parse(text).has_value());
  }
}

TEST_CASE("SocketAddress to_string round-trips through parse") {
  const char* texts[] = {
      "127.0.0.1:80",    "0.0.0.0:0",        "255.255.255.255:65535", "[::1]:8080",        "[::]:1",
      "[fe80::1:2]:443", "[2001:db8::ff]:9", "[::ffff:1.2.3.4]:7",    "192.168.0.10:12345"};
  for (const char* text : texts) {
    CAPTURE(text);
    std::optional<SocketAddress> a = SocketAddress::parse(text);
    REQUIRE(a.has_value());
    CHECK(a->to_string() == text);
    std::optional<SocketAddress> b = SocketAddress::parse(a->to_string());
    REQUIRE(b.has_value());
    CHECK(b->family() == a->family());
    CHECK(b->port() == a->port());
    CHECK(b->size() == a->size());
    CHECK(std::memcmp(b->get(), a->get(), a->size()) == 0);
  }
}

TEST_CASE("SocketAddress from a sockaddr and from a bound socket") {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(4321);
  sin.sin_addr.s_addr = htonl(0x0A000001);  // 10.0.0.1
  SocketAddress a = SocketAddress::from(reinterpret_cast<const sockaddr*>(&sin), sizeof sin);
  CHECK(a.family() == AF_INET);
  CHECK(a.to_string() == "10.0.0.1:4321");

  std::optional<SocketAddress> any = SocketAddress::parse("127.0.0.1:0");
  REQUIRE(any.has_value());
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  REQUIRE(::bind(fd, any->get(), any->size()) == 0);
  SocketAddress bound = SocketAddress::local_of(fd);
  ::close(fd);
  CHECK(bound.family() == AF_INET);
  CHECK(bound.port() != 0);
  CHECK(bound.to_string() == "127.0.0.1:" + std::to_string(bound.port()));
}
