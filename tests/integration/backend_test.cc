// What every poller backend and platform path must give the core, run against the epoll
// backend and (gev-core-tests-kqueue) the kqueue backend over tests/kqueue_model: errors
// on paused descriptors, no early end of input, and descriptors that do not leak into a
// child process.
#include <doctest/doctest.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <set>
#include <string>
#include <thread>

#include "poller.h"
#include "test_client.h"
#include "test_handlers.h"

using namespace gev;
using namespace gev::test;
using gev::detail::kHangup;
using gev::detail::kNone;
using gev::detail::kReadable;
using gev::detail::kWritable;

namespace {

// Pauses reading as each connection opens.
class PausingEcho : public RecordingEcho {
 public:
  void on_connect(Connection& c) override {
    RecordingEcho::on_connect(c);
    c.pause_reading();
  }
};

// A connected TCP pair on 127.0.0.1: {accepted, client}.
std::pair<int, int> tcp_pair() {
  int ls = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  REQUIRE(::bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(ls, 1) == 0);
  REQUIRE(::getsockname(ls, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  int client = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(::connect(client, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  int server = ::accept(ls, nullptr, nullptr);
  REQUIRE(server >= 0);
  ::close(ls);
  ::fcntl(server, F_SETFL, ::fcntl(server, F_GETFL) | O_NONBLOCK);
  return {server, client};
}

void reset(int fd) {
  linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(fd);
}

// The mask the poller reports for fd within timeout_ms, or 0 if none.
uint32_t wait_for(detail::Poller& p, int fd, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  detail::PollEvent events[8];
  do {
    int n = p.wait(events, 20);
    for (int i = 0; i < n; ++i)
      if (events[i].fd == fd) return events[i].mask;
  } while (std::chrono::steady_clock::now() < deadline);
  return 0;
}

std::set<int> open_fds() {
  std::set<int> fds;
  DIR* d = ::opendir("/proc/self/fd");
  REQUIRE(d != nullptr);
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') fds.insert(std::atoi(e->d_name));
  fds.erase(::dirfd(d));
  ::closedir(d);
  return fds;
}

}  // namespace

TEST_CASE("poller: an fd with an empty mask still reports its peer's reset") {
  auto poller = detail::make_poller();
  auto [fd, peer] = tcp_pair();
  poller->add(fd, kNone);
  REQUIRE(::write(peer, "x", 1) == 1);  // readable, which an empty mask must not report
  CHECK(wait_for(*poller, fd, 300) == 0);
  reset(peer);
  CHECK(wait_for(*poller, fd, 10000) == (kReadable | kWritable | kHangup));
  poller->remove(fd, kNone);
  ::close(fd);
}

TEST_CASE("poller: with write interest only, a reset is reported and readability is not") {
  auto poller = detail::make_poller();
  auto [fd, peer] = tcp_pair();
  poller->add(fd, kReadable);
  REQUIRE(::write(peer, "x", 1) == 1);
  CHECK(wait_for(*poller, fd, 10000) == kReadable);
  poller->modify(fd, kReadable, kWritable);
  CHECK((wait_for(*poller, fd, 10000) & kWritable) != 0);
  poller->modify(fd, kWritable, kNone);
  CHECK(wait_for(*poller, fd, 300) == 0);  // the byte is still unread
  reset(peer);
  CHECK(wait_for(*poller, fd, 10000) == (kReadable | kWritable | kHangup));
  poller->remove(fd, kNone);
  ::close(fd);
}

// Sleeps in wait_until until it returns nothing (the deadline) and gives the time then.
int64_t sleep_until(detail::Poller& p, int64_t deadline_ns) {
  detail::PollEvent events[8];
  while (p.wait_until(events, deadline_ns) != 0) {
  }
  return detail::Poller::now_ns();
}

TEST_CASE("poller: wait_until wakes at its deadline, never before, as the deadline moves") {
  auto poller = detail::make_poller();
  constexpr int64_t ms = 1000000;
  int64_t t0 = detail::Poller::now_ns();
  CHECK(sleep_until(*poller, t0 + 30 * ms) >= t0 + 30 * ms);
  // A later deadline first, then an earlier one: the earlier one wakes the poller.
  detail::PollEvent events[8];
  t0 = detail::Poller::now_ns();
  auto [fd, peer] = tcp_pair();
  poller->add(fd, kReadable);
  REQUIRE(::write(peer, "x", 1) == 1);  // a wake-up with the long deadline armed
  CHECK(poller->wait_until(events, t0 + 60000 * ms) == 1);
  poller->remove(fd, kReadable);
  int64_t woke = sleep_until(*poller, t0 + 40 * ms);
  CHECK(woke >= t0 + 40 * ms);
  CHECK(woke < t0 + 30000 * ms);  // not the armed minute
  // A deadline moved later than the one armed (its timer cancelled): the armed one may
  // fire early; the poller sleeps on to the new deadline.
  t0 = detail::Poller::now_ns();
  REQUIRE(::write(peer, "y", 1) == 1);
  poller->add(fd, kReadable);
  CHECK(poller->wait_until(events, t0 + 5 * ms) == 1);  // armed for 5 ms, back at once
  char buf[8];
  CHECK(::read(fd, buf, sizeof buf) == 2);  // "x" and "y": nothing readable now
  CHECK(sleep_until(*poller, t0 + 50 * ms) >= t0 + 50 * ms);
  // Past and absent deadlines: no sleep, and a sleep an event ends.
  CHECK(poller->wait_until(events, t0) == 0);
  REQUIRE(::write(peer, "z", 1) == 1);
  CHECK(poller->wait_until(events, detail::Poller::kForever) == 1);
  CHECK(events[0].fd == fd);
  poller->remove(fd, kReadable);
  ::close(fd);
  ::close(peer);
}

TEST_CASE("a connection paused by its handler learns that its peer reset it") {
  PausingEcho handler;
  Server server(handler, test_options(1));
  server.start();
  TestClient c(server.port());
  REQUIRE(wait_until([&] { return handler.connects() == 1; }, 10000));
  REQUIRE(c.send_all("while paused"));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(handler.messages_.load() == 0);  // paused: nothing is decoded
  c.reset();
  REQUIRE(wait_until([&] { return handler.closes() == 1; }, 20000));
  CHECK(handler.closed_for(CloseReason::kPeerReset) + handler.closed_for(CloseReason::kPeerClosed) ==
        1);
  CHECK(server.stats().open == 0);
}

TEST_CASE("a paused connection's half-closing peer is answered once reading resumes") {
  PausingEcho handler;
  Server server(handler, test_options(1));
  server.start();
  TestClient c(server.port());
  REQUIRE(wait_until([&] { return handler.connects() == 1; }, 10000));
  REQUIRE(c.send_all("ping"));
  c.shutdown_write();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(handler.closes() == 0);  // a FIN is not a hang-up: the request is still to be read
  auto conn = handler.any_live();
  REQUIRE(conn != nullptr);
  conn->resume_reading();
  CHECK(c.recv_until_eof(10000) == "ping");
  CHECK(c.eof());
  REQUIRE(wait_until([&] { return handler.closes() == 1; }, 10000));
  CHECK(handler.closed_for(CloseReason::kPeerClosed) == 1);
}

TEST_CASE("every descriptor the core opens is close-on-exec; sockets are non-blocking") {
  std::set<int> before = open_fds();
  RecordingEcho handler;
  Options o = test_options(2);
  Server server(handler, o);
  server.start();
  TestClient c(server.port());
  REQUIRE(c.echo("cloexec") == "cloexec");
  int sockets = 0;
  for (int fd : open_fds()) {
    if (before.count(fd) || fd == c.fd()) continue;
    int fdflags = ::fcntl(fd, F_GETFD);
    if (fdflags < 0) continue;  // closed meanwhile
    CAPTURE(fd);
    CHECK((fdflags & FD_CLOEXEC) != 0);
    int type = 0;
    socklen_t len = sizeof type;
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM) {
      CHECK((::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);  // the listener and the accepted one
      ++sockets;
    }
  }
  CHECK(sockets >= 2);
}
