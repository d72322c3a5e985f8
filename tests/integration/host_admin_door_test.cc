// The admin endpoint as a door that cannot be jammed or abused: idle peers cannot lock
// out health checks, slow or huge request heads are answered and cut, POST /reload needs
// a token over TCP (or a 0600 unix socket), a foreign Host or Origin is refused, and
// /healthz, /readyz tell a load balancer the truth through a stop and a hand-off.
#include <doctest/doctest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "reload_util.h"

using namespace gev::test;
namespace fs = std::filesystem;

namespace {

// One request over a unix socket; the whole response (until EOF).
std::string unix_http(const fs::path& sock, const std::string& request) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::strncpy(sun.sun_path, sock.c_str(), sizeof sun.sun_path - 1);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) == 0 &&
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == ssize_t(request.size())) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    char buf[4096];
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return out;
}

// raw + echo on 127.0.0.1:0 and an admin endpoint on 127.0.0.1:0 (its port: port(1)).
std::vector<std::string> admin_args(const ModuleDir& dir, std::vector<std::string> extra = {}) {
  std::vector<std::string> a = args(dir, "raw", "echo", std::move(extra));
  a[1] = "127.0.0.1:0";  // args() puts "--admin off" first
  return a;
}

// One keep-alive response: the head, then Content-Length bytes.
std::string read_response(TestClient& c) {
  std::string got;
  while (!got.ends_with("\r\n\r\n")) {
    std::string b = c.recv_exact(1, 5000);
    if (b.empty()) return got;
    got += b;
  }
  size_t at = got.find("Content-Length: ");
  if (at == std::string::npos) return got;
  return got + c.recv_exact(std::stoul(got.substr(at + 16)), 5000);
}

}  // namespace

TEST_CASE("admin: idle connections cannot lock out a health check; slow and huge heads are cut") {
  ModuleDir dir{"raw", "echo"};
  HostProcess host(GEV_HOST_PATH, admin_args(dir, {"--admin-request-timeout", "1500"}), 10000, 2);
  REQUIRE_MESSAGE(host.listening(), host.log());
  uint16_t admin = host.port(1);
  // Any local user can open these: 100, more than the endpoint's 64 slots.
  std::vector<std::unique_ptr<TestClient>> idle;
  for (int i = 0; i < 100; ++i) idle.push_back(std::make_unique<TestClient>(admin));
  std::string health = http(admin, "GET", "/healthz", "", 5000);
  CHECK_MESSAGE(health.rfind("HTTP/1.1 200 OK\r\n", 0) == 0, health);
  CHECK(health.ends_with("\r\n\r\nok\n"));
  CHECK(metric(admin, "gev_admin_evicted_total") >= 36);
  CHECK(contains(http(admin, "GET", "/metrics"), "gev_connections_open{listener=\"main\"}"));

  // A head that never completes gets 408 at the deadline; a silent one is just closed.
  TestClient slow(admin);
  REQUIRE(slow.send_all("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
  TestClient silent(admin);
  std::string slow_answer = slow.recv_until_eof(10000);
  CHECK_MESSAGE(slow_answer.rfind("HTTP/1.1 408 Request Timeout\r\n", 0) == 0, slow_answer);
  CHECK(slow.eof());
  CHECK(silent.recv_until_eof(10000).empty());
  CHECK(silent.eof());
  // A head over 8 KiB: 431, then closed.
  TestClient big(admin);
  REQUIRE(big.send_all("GET /metrics HTTP/1.1\r\nX-Pad: " + std::string(9000, 'a') + "\r\n"));
  std::string big_answer = big.recv_until_eof(5000);
  CHECK_MESSAGE(big_answer.rfind("HTTP/1.1 431 Request Header Fields Too Large\r\n", 0) == 0,
                big_answer);
  CHECK(metric(admin, "gev_admin_timeouts_total") == 1);
  // Keep-alive still works: two requests on one connection.
  TestClient ka(admin);
  std::string get = "GET /healthz HTTP/1.1\r\nHost: localhost:" + std::to_string(admin) + "\r\n\r\n";
  REQUIRE(ka.send_all(get + get));
  CHECK(read_response(ka).ends_with("\r\n\r\nok\n"));
  CHECK(read_response(ka).ends_with("\r\n\r\nok\n"));
}

TEST_CASE("admin: POST /reload needs the token over TCP; foreign Host and Origin are refused") {
  ModuleDir dir{"raw", "echo"};
  {
    HostProcess open_door(GEV_HOST_PATH, admin_args(dir), 10000, 2);
    REQUIRE_MESSAGE(open_door.listening(), open_door.log());
    std::string r = http(open_door.port(1), "POST", "/reload", kBearer);
    CHECK_MESSAGE(r.rfind("HTTP/1.1 403 Forbidden\r\n", 0) == 0, r);
    CHECK(contains(r, "needs a token (--admin-token-file)"));
    CHECK_FALSE(contains(open_door.log(), "reload: generation 2"));
  }
  fs::path token = write_token(dir.path);
  HostProcess host(GEV_HOST_PATH, admin_args(dir, {"--admin-token-file", token.string()}), 10000,
                   2);
  REQUIRE_MESSAGE(host.listening(), host.log());
  uint16_t admin = host.port(1);
  std::string p = std::to_string(admin);
  CHECK(contains(http(admin, "POST", "/reload"), "401 Unauthorized"));
  CHECK(contains(http(admin, "POST", "/reload", "Authorization: Bearer nope\r\n"), "401"));
  CHECK(contains(http(admin, "POST", "/reload", "Authorization: Bearer " + kToken + "x\r\n"), "401"));
  CHECK_FALSE(contains(host.log(), "reload: generation 2"));
  std::string ok = http(admin, "POST", "/reload", kBearer);
  CHECK_MESSAGE(contains(ok, "200 OK"), ok);
  CHECK(contains(ok, "generation 2 serving"));
  // A page a browser loaded elsewhere (a cross-site form: Origin), or DNS rebinding (a
  // name resolving to 127.0.0.1: Host), is refused, even with the token.
  auto raw = [&](const std::string& head) {
    TestClient c(admin);
    c.send_all(head + "\r\n");
    return c.recv_until_eof(5000);
  };
  std::string rebind = raw("POST /reload HTTP/1.1\r\nHost: evil.example:" + p + "\r\n" + kBearer);
  CHECK_MESSAGE(rebind.rfind("HTTP/1.1 403 Forbidden\r\n", 0) == 0, rebind);
  CHECK(contains(raw("POST /reload HTTP/1.1\r\nHost: 127.0.0.1:" + p + "\r\n" + kBearer +
                     "Origin: http://evil.example\r\n"),
                 "403 Forbidden"));
  CHECK(contains(raw("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:" + p +
                     "\r\nOrigin: http://evil.example\r\n"),
                 "403 Forbidden"));
  // Reads by name are answered (Prometheus scraping by host name, a container's port
  // mapping): only what changes state must come by address.
  CHECK(contains(raw("GET /metrics HTTP/1.1\r\nHost: metrics.example:19091\r\nConnection: "
                     "close\r\n"),
                 "200 OK"));
  // Two Host headers, a body on a GET, a HEAD on keep-alive: no desynchronised parsing.
  CHECK(contains(raw("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n"),
                 "400 Bad Request"));
  CHECK(contains(raw("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n"),
                 "400 Bad Request"));
  // Its own Origin, and the addresses it answers to, are fine; so is HTTP/1.0 without a
  // Host, as HAProxy's health check sends it.
  CHECK(contains(raw("GET /healthz HTTP/1.1\r\nHost: localhost:" + p + "\r\nOrigin: http://127.0.0.1:" +
                     p + "\r\nConnection: close\r\n"),
                 "200 OK"));
  CHECK(contains(raw("GET /healthz HTTP/1.0\r\n"), "200 OK"));
  CHECK(contains(raw("GET /healthz HTTP/1.1\r\n"), "400 Bad Request"));
  CHECK(metric(admin, "gev_admin_forbidden_total") >= 6);
  CHECK(metric(admin, "gev_generation") == 2);

  // A token file others can read is refused at start, naming it.
  ::chmod(token.c_str(), 0644);
  HostProcess loose(GEV_HOST_PATH, admin_args(dir, {"--admin-token-file", token.string()}));
  CHECK(loose.wait_exit() == 2);
  CHECK(contains(loose.log(), "--admin-token-file " + token.string() +
                                  ": readable by group or others (mode 0644): chmod 600 it"));
}

TEST_CASE("admin: on a unix socket (mode 0600) reload needs no token") {
  ModuleDir dir{"raw", "echo"};
  fs::path sock = dir.path / "admin.sock";
  std::vector<std::string> a = args(dir, "raw", "echo");
  a[1] = "unix:" + sock.string();
  HostProcess host(GEV_HOST_PATH, a);
  REQUIRE_MESSAGE(host.listening(), host.log());
  REQUIRE(wait_until([&] { return fs::exists(sock); }));
  struct stat st {};
  REQUIRE(::stat(sock.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  std::string r = unix_http(sock, "POST /reload HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK_MESSAGE(contains(r, "200 OK"), r);
  CHECK(contains(r, "generation 2 serving"));
  CHECK(contains(unix_http(sock, "GET /healthz HTTP/1.0\r\n\r\n"), "ok\n"));
  TestClient c(host.port());
  CHECK(c.echo("data") == "data");
  host.terminate();
  CHECK(host.wait_exit() == 0);
}

TEST_CASE("admin: /healthz turns 503 when a stop begins, while --shutdown-delay keeps serving") {
  ModuleDir dir{"raw", "echo"};
  HostProcess host(GEV_HOST_PATH, admin_args(dir, {"--shutdown-delay", "5000"}), 10000, 2);
  REQUIRE_MESSAGE(host.listening(), host.log());
  uint16_t port = host.port(0), admin = host.port(1);
  CHECK(wait_until([&] { return contains(http(admin, "GET", "/readyz"), "200 OK"); }));
  CHECK(contains(http(admin, "GET", "/readyz"), "\r\n\r\nready\n"));
  TestClient before(port);
  REQUIRE(before.echo("x") == "x");
  REQUIRE(::kill(host.pid(), SIGTERM) == 0);
  CHECK(wait_until([&] { return contains(http(admin, "GET", "/healthz", "", 2000), "503"); }, 2000));
  std::string h = http(admin, "GET", "/healthz");
  CHECK_MESSAGE(contains(h, "503 Service Unavailable"), h);
  CHECK(h.ends_with("\r\n\r\nstopping\n"));
  CHECK(contains(http(admin, "GET", "/readyz"), "503"));
  // Still accepting and serving during the delay.
  TestClient during(port);
  CHECK(during.echo("still") == "still");
  CHECK(before.echo("y") == "y");
  CHECK(host.wait_exit(15000) == 0);
  CHECK(contains(host.log(), "stopping in 5000 ms"));
  CHECK_FALSE(TestClient().connect(port));
}

TEST_CASE("admin: a host handing over says 'draining' on /healthz to whoever still asks it") {
  ModuleDir dir{"raw", "echo"};
  std::string sock = (dir.path / "handoff.sock").string();
  HostProcess old(GEV_HOST_PATH, admin_args(dir, {"--handoff-socket", sock}), 10000, 2);
  REQUIRE_MESSAGE(old.listening(), old.log());
  uint16_t port = old.port(0), admin = old.port(1);
  REQUIRE(wait_until([&] { return contains(old.log(), "hand-off socket"); }));
  // A balancer's kept-alive check connection to the old host.
  TestClient check(admin);
  std::string get = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(admin) + "\r\n\r\n";
  REQUIRE(check.send_all(get));
  CHECK(contains(read_response(check), "200 OK"));
  std::vector<std::string> a = admin_args(dir, {"--takeover", sock});
  a[1] = "127.0.0.1:" + std::to_string(admin);
  a[3] = "127.0.0.1:" + std::to_string(port);
  HostProcess next(GEV_HOST_PATH, a, 10000, 0);
  REQUIRE_MESSAGE(wait_until([&] { return contains(next.log(), "took over from"); }, 10000),
                  next.log());
  REQUIRE(check.send_all(get));
  std::string h = read_response(check);
  CHECK_MESSAGE(contains(h, "503 Service Unavailable"), h);
  CHECK(contains(h, "draining: handed over to a new gev-host"));
  check.close();
  CHECK(old.wait_exit(15000) == 0);
  CHECK(contains(http(admin, "GET", "/healthz"), "\r\n\r\nok\n"));  // the successor's
}

TEST_CASE("admin: with every slot busy, a health check still gets through; the rest get 503") {
  ModuleDir dir{"raw", "echo", "slow_create"};
  fs::path conf = dir.path / "host.conf";
  fs::path token = write_token(dir.path);
  auto write = [&](int sleep_ms) {
    std::ofstream(conf) << "loops = 2\nadmin = 127.0.0.1:0\nmodule-dir = " << dir.path.string()
                        << "\nadmin-token-file = " << token.string()
                        << "\n[module.slow_create]\nsleep_ms = " << sleep_ms
                        << "\n[listener.main]\nlisten = 127.0.0.1:0\nprotocol = raw\n"
                           "handler = echo\n";
  };
  write(0);
  HostProcess host(GEV_HOST_PATH, {"--config", conf.string()}, 10000, 2);
  REQUIRE_MESSAGE(host.listening(), host.log());
  uint16_t admin = host.port(1);
  // The next reload creates slow_create anew, which takes 8 s on the reload thread: 64
  // POST /reload requests wait for it, one per admin slot.
  write(8000);
  std::string post = "POST /reload HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(admin) +
                     "\r\nConnection: close\r\n" + kBearer + "\r\n";
  std::vector<std::unique_ptr<TestClient>> busy;
  for (int i = 0; i < 64; ++i) {
    busy.push_back(std::make_unique<TestClient>(admin));
    REQUIRE(busy.back()->send_all(post));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));  // all 64 read (well within 8 s)
  std::string health = http(admin, "GET", "/healthz", "", 5000);
  CHECK_MESSAGE(health.rfind("HTTP/1.1 200 OK\r\n", 0) == 0, health);
  std::string other = http(admin, "GET", "/metrics", "", 5000);
  CHECK_MESSAGE(other.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0) == 0, other);
  CHECK(contains(other, "only /healthz and /readyz are answered now"));
  // Every one of the 64 gets its answer once the reload is done.
  int ok = 0;
  for (auto& c : busy) ok += contains(c->recv_until_eof(30000), "200 OK");
  CHECK(ok == 64);
  CHECK(metric(admin, "gev_admin_refused_total") == 1);
  CHECK(metric(admin, "gev_admin_evicted_total") == 0);
  check_clean_exit(host);
}
