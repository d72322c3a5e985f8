// UDP listeners (Options::network = kUdp): each datagram one frame, each peer address a
// light connection (on_connect/on_close once each, expiry, a cap), replies batched per
// read, decode errors and oversized datagrams dropped one at a time, the socket group
// handed to another server.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "test_client.h"
#include "test_handlers.h"

using namespace gev;
using namespace gev::test;
using namespace std::chrono_literals;

namespace {

// A client UDP socket on the loopback of `family`, talking to one server address.
struct UdpPeer {
  UdpPeer(const SocketAddress& server, int family = AF_INET) : to(server) {
    fd = ::socket(family, SOCK_DGRAM, 0);
    REQUIRE(fd >= 0);
    int big = 4 << 20;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  }
  ~UdpPeer() { ::close(fd); }
  UdpPeer(const UdpPeer&) = delete;
  UdpPeer& operator=(const UdpPeer&) = delete;

  void send(std::string_view data) const {
    ssize_t n = ::sendto(fd, data.data(), data.size(), 0, to.get(), to.size());
    REQUIRE(n == static_cast<ssize_t>(data.size()));
  }
  // The next datagram, or nullopt after timeout_ms.
  std::optional<std::string> recv(int timeout_ms = 5000) const {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) != 1) return std::nullopt;
    std::string buf(65536, '\0');
    sockaddr_storage from{};
    socklen_t len = sizeof from;
    ssize_t n = ::recvfrom(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) return std::nullopt;
    buf.resize(static_cast<size_t>(n));
    return buf;
  }
  SocketAddress local() const { return SocketAddress::local_of(fd); }

  int fd;
  SocketAddress to;
};

Options udp_options(size_t loops = 2) {
  Options o = test_options(loops);
  o.network = Network::kUdp;
  return o;
}

// Payload of `size` bytes that names its sender and sequence number.
std::string payload(size_t peer, size_t seq, size_t size) {
  std::string s = std::to_string(peer) + "/" + std::to_string(seq) + "/";
  if (s.size() > size) return std::string(size, 'z');
  s.resize(size, static_cast<char>('a' + (peer + seq) % 26));
  return s;
}

// Rejects datagrams that begin with 'X'; a datagram that begins with 'L' asks for more
// than it holds (a length field's "need more"); everything else is one frame.
class PickyProtocol : public Protocol {
 public:
  DecodeResult decode(Connection&, std::span<const uint8_t> in) override {
    if (!in.empty() && in[0] == 'X') return DecodeResult::fail("starts with X");
    if (!in.empty() && in[0] == 'L') return {DecodeStatus::kNeedMore, 0, {}, nullptr};
    return DecodeResult::frame_of(in.size(), Frame{in, 0, {}});
  }
  void encode(Connection&, const Frame& msg, WriteBatch& out) override { out.append(msg.data); }
};

// Answers each datagram with two sends of its own and then the reply.
class TripleReply : public RecordingEcho {
 public:
  std::span<const uint8_t> on_message(Connection& c, const Frame& f) override {
    c.send("first");
    c.send("second");
    return RecordingEcho::on_message(c, f);
  }
};

}  // namespace

TEST_CASE("udp: datagrams of 0 B to 65,507 B from 100 peers come back to their own sender") {
  for (int family : {AF_INET, AF_INET6}) {
    CAPTURE(family);
    RecordingEcho echo;
    Options o = udp_options(2);
    o.address = family == AF_INET ? "127.0.0.1:0" : "[::1]:0";
    o.idle_timeout = std::chrono::minutes(10);  // no peer expires however slow the machine
    Server server(echo, o);
    server.start();
    const std::vector<size_t> sizes = {0, 1, 64, 1200, 1472, 8192, 32768, 65507};
    std::vector<std::unique_ptr<UdpPeer>> peers;
    for (int i = 0; i < 100; ++i) peers.push_back(std::make_unique<UdpPeer>(server.address(), family));
    // Small datagrams: every peer sends at once. Large ones: one peer at a time (the
    // server socket's default receive buffer, ~208 KiB, holds only three 64 KiB
    // datagrams). UDP may drop under load, so a peer sends again until its reply is
    // back; each reply is checked against its own request.
    for (size_t round = 0; round < sizes.size(); ++round) {
      CAPTURE(sizes[round]);
      bool at_once = sizes[round] <= 1472;
      if (at_once)
        for (size_t i = 0; i < peers.size(); ++i) peers[i]->send(payload(i, round, sizes[round]));
      for (size_t i = 0; i < peers.size(); ++i) {
        if (!at_once) peers[i]->send(payload(i, round, sizes[round]));
        std::string want = payload(i, round, sizes[round]);
        std::optional<std::string> got;
        for (int attempt = 0; attempt < 20 && !got; ++attempt) {
          got = peers[i]->recv(attempt == 0 ? 5000 : 500);
          if (!got) peers[i]->send(want);
        }
        REQUIRE(got.has_value());
        CHECK(got->size() == want.size());
        CHECK(*got == want);  // its own: another peer's payload names another sender
      }
    }
    CHECK(wait_until([&] { return echo.connects() == 100; }));
    // (The loop counts a datagram sent once the system call returns: after the peer may
    // have read it.)
    CHECK(wait_until([&] {
      Stats st = server.stats();
      return st.datagrams_out == st.messages_out;
    }));
    Stats st = server.stats();
    CHECK(st.open == 100);
    CHECK(st.datagrams_in >= 100 * sizes.size());
    server.stop();
    server.wait();
    CHECK(echo.closes() == 100);  // on_close once each, at the stop
    CHECK(echo.closed_for(CloseReason::kServerStop) == 100);
    CHECK(echo.double_closes() == 0);
  }
}

TEST_CASE("udp: a peer flooding 100k datagrams does not starve another peer") {
  RecordingEcho echo;
  Server server(echo, udp_options(1));  // one loop: both peers on the same socket
  server.start();
  UdpPeer flooder(server.address());
  UdpPeer quiet(server.address());
  std::atomic<bool> done{false};
  std::thread flood([&] {
    std::string d(200, 'f');
    for (int i = 0; i < 100000 && !done.load(); ++i)
      ::sendto(flooder.fd, d.data(), d.size(), 0, flooder.to.get(), flooder.to.size());
  });
  // The quiet peer's 200 requests are each answered; one whose datagram the kernel
  // dropped (the socket's queue is shared, and full) is sent again after 200 ms.
  int answered = 0, resent = 0;
  auto deadline = std::chrono::steady_clock::now() + 120s;
  for (int seq = 0; seq < 200 && std::chrono::steady_clock::now() < deadline; ++seq) {
    std::string want = payload(7, static_cast<size_t>(seq), 32);
    quiet.send(want);
    for (;;) {
      std::optional<std::string> got = quiet.recv(200);
      if (got && *got == want) {
        ++answered;
        break;
      }
      if (!got) {
        ++resent;
        quiet.send(want);
      }
      if (std::chrono::steady_clock::now() > deadline) break;
    }
  }
  done = true;
  flood.join();
  MESSAGE("quiet peer: 200 requests, " << resent << " sent again");
  CHECK(answered == 200);
  Stats st = server.stats();
  CHECK(st.datagrams_in > 200);  // the flood was served too
  server.stop();
  server.wait();
}

TEST_CASE("udp: replies to one peer in a row (sent as one GSO run where Linux has it) arrive one by one") {
  RecordingEcho echo;
  Server server(echo, udp_options(1));
  server.start();
  UdpPeer peer(server.address());
  // 40 datagrams of 1,000 B, then a shorter one, sent back to back: one batch holds a run
  // of same-size replies to this peer.
  std::vector<std::string> sent;
  for (size_t i = 0; i < 40; ++i) sent.push_back(payload(1, i, 1000));
  sent.push_back(payload(1, 40, 300));
  for (const std::string& d : sent) peer.send(d);
  std::vector<std::string> got;
  while (got.size() < sent.size()) {
    std::optional<std::string> d = peer.recv();
    if (!d) break;
    got.push_back(*d);
  }
  REQUIRE(got.size() == sent.size());  // (41 small datagrams fit any socket buffer)
  CHECK(got == sent);                   // each whole and separate, in order
  CHECK(wait_until([&] { return server.stats().datagrams_out == 41; }));
  server.stop();
  server.wait();
}

TEST_CASE("udp: an idle peer expires with on_close; a new datagram makes it anew") {
  RecordingEcho echo;
  Options o = udp_options(1);
  o.idle_timeout = 300ms;
  Server server(echo, o);
  server.start();
  UdpPeer peer(server.address());
  peer.send("hello");
  CHECK(peer.recv() == std::optional<std::string>("hello"));
  CHECK(wait_until([&] { return echo.closed_for(CloseReason::kIdleTimeout) == 1; }, 10000));
  CHECK(server.stats().open == 0);
  peer.send("again");
  CHECK(peer.recv() == std::optional<std::string>("again"));
  CHECK(echo.connects() == 2);
  server.stop();
  server.wait();
  CHECK(echo.closes() == 2);
  CHECK(echo.double_closes() == 0);
}

TEST_CASE("udp: the peer cap refuses new peers and counts them") {
  RecordingEcho echo;
  Options o = udp_options(1);
  o.max_connections = 3;
  Server server(echo, o);
  server.start();
  std::vector<std::unique_ptr<UdpPeer>> peers;
  for (int i = 0; i < 5; ++i) peers.push_back(std::make_unique<UdpPeer>(server.address()));
  int answered = 0;
  for (auto& p : peers) {
    p->send("hi");
    if (p->recv(1000)) ++answered;
  }
  CHECK(answered == 3);
  Stats st = server.stats();
  CHECK(st.refused == 2);
  CHECK(st.datagram_drops[static_cast<size_t>(DatagramDrop::kPeerCap)] == 2);
  CHECK(st.open == 3);
  server.stop();
  server.wait();
}

TEST_CASE("udp: a datagram the protocol rejects is dropped alone; the peer stays") {
  RecordingEcho echo;
  PickyProtocol picky;
  Server server(echo, udp_options(1), &picky);
  server.start();
  UdpPeer peer(server.address());
  for (const char* d : {"X-bad", "ok-1", "L-short", "ok-2"}) peer.send(d);
  CHECK(peer.recv() == std::optional<std::string>("ok-1"));
  CHECK(peer.recv() == std::optional<std::string>("ok-2"));
  CHECK(!peer.recv(300));
  Stats st = server.stats();
  CHECK(st.datagram_drops[static_cast<size_t>(DatagramDrop::kDecodeError)] == 2);
  CHECK(echo.connects() == 1);
  CHECK(echo.closes() == 0);
  server.stop();
  server.wait();
}

TEST_CASE("udp: a datagram over max_datagram is dropped and counted as truncated") {
  RecordingEcho echo;
  Options o = udp_options(1);
  o.max_datagram = 1000;
  Server server(echo, o);
  server.start();
  UdpPeer peer(server.address());
  peer.send(std::string(1001, 'o'));
  peer.send(std::string(1000, 'k'));
  CHECK(peer.recv() == std::optional<std::string>(std::string(1000, 'k')));
  CHECK(!peer.recv(300));
  CHECK(server.stats().datagram_drops[static_cast<size_t>(DatagramDrop::kTruncated)] == 1);
  server.stop();
  server.wait();
}

TEST_CASE("udp: each send is a datagram of its own, in order; sends from other threads too") {
  TripleReply handler;
  Server server(handler, udp_options(1));
  server.start();
  UdpPeer peer(server.address());
  peer.send("reply");
  CHECK(peer.recv() == std::optional<std::string>("first"));
  CHECK(peer.recv() == std::optional<std::string>("second"));
  CHECK(peer.recv() == std::optional<std::string>("reply"));
  // Off the loop (a worker thread of the application answering later).
  std::shared_ptr<Connection> c = handler.any_live();
  REQUIRE(c);
  CHECK(c->datagram());
  CHECK(c->peer_address().port() == peer.local().port());
  std::thread([c] { c->send("later"); }).join();
  CHECK(peer.recv() == std::optional<std::string>("later"));
  c->shutdown_write();  // no stream to end: nothing happens
  c->pause_reading();
  c->send("still");
  CHECK(peer.recv() == std::optional<std::string>("still"));
  c->close();  // on_close; the next datagram is a new peer
  CHECK(wait_until([&] { return handler.closes() == 1; }));
  server.stop();
  server.wait();
}

TEST_CASE("udp: another server takes over the socket group and answers on the same port") {
  RecordingEcho first_echo, second_echo;
  Server first(first_echo, udp_options(2));
  first.start();
  std::vector<int> fds = first.listen_fds();
  REQUIRE(!fds.empty());
  std::vector<int> dups;
  for (int fd : fds) dups.push_back(::dup(fd));
  UdpPeer peer(first.address());
  peer.send("one");
  CHECK(peer.recv() == std::optional<std::string>("one"));

  Options o = udp_options(2);
  o.listen_fds = dups;
  Server second(second_echo, o);
  second.start();
  CHECK(second.port() == first.port());
  first.stop_accepting();  // its sockets close; the group lives on in the second server
  first.stop();
  first.wait();
  // Datagrams sent at any time reach one server or the other: none is lost for the
  // switch (the kernel queue is shared). After it, the second one answers.
  peer.send("two");
  CHECK(peer.recv() == std::optional<std::string>("two"));
  CHECK(second_echo.connects() == 1);
  CHECK(first_echo.closes() == 1);
  second.stop();
  second.wait();
}

TEST_CASE("udp: TLS on a UDP listener and a bad max_datagram are refused") {
  RecordingEcho echo;
  Server server(udp_options(1));
  Options tls = udp_options(1);
  tls.tls.cert_file = "/nonexistent.pem";
  CHECK_THROWS_AS(server.add_listener(echo, tls), std::invalid_argument);
  Options big = udp_options(1);
  big.max_datagram = 70000;
  CHECK_THROWS_AS(server.add_listener(echo, big), std::invalid_argument);
}
