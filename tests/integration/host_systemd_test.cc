// systemd integration, tested the way systemd does it but without systemd: listening
// sockets passed as fds 3.. with LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES, and READY=1 /
// RELOADING=1 / STOPPING=1 read from our own NOTIFY_SOCKET.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "host_fixture.h"
#include "host_process.h"
#include "test_client.h"

using namespace gev::test;
namespace fs = std::filesystem;

namespace {

// A TCP socket on 127.0.0.1, listening or only bound (to hold a port).
struct Socket {
  explicit Socket(bool listening) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    if (listening) ::listen(fd, 16);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~Socket() { ::close(fd); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }
  int fd;
  uint16_t port;
};

// Our NOTIFY_SOCKET: a datagram socket in a fresh directory.
struct Notifier {
  Notifier() {
    dir = "/tmp/gev-notify-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
    ::mkdir(dir.c_str(), 0700);
    path = dir + "/notify";
    fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  ~Notifier() {
    ::close(fd);
    ::unlink(path.c_str());
    ::rmdir(dir.c_str());
  }
  // The next message, or "" after timeout_ms.
  std::string next(int timeout_ms = 5000) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return "";
    char buf[512];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }
  std::string env() const { return "NOTIFY_SOCKET=" + path; }
  std::string dir, path;
  int fd;
  static inline int counter = 0;
};

std::vector<std::string> host_args(const ModuleDir& dir, const std::string& listen) {
  return {"--admin",         "off",        "--listen", listen,      "--loops", "2", "--module-dir",
          dir.path.string(), "--protocol", "raw",      "--handler", "echo"};
}

}  // namespace

TEST_CASE("systemd: a socket named for the listener is served; READY=1 then STOPPING=1") {
  ModuleDir dir({"raw", "echo"});
  Socket activated(true);
  Socket held(false);  // the configured address is taken: binding it would fail
  Notifier notify;
  Inherit inherit{{activated.fd}, {"LISTEN_FDS=1", "LISTEN_FDNAMES=main", notify.env()}, true};
  HostProcess host(GEV_HOST_PATH, host_args(dir, held.address()), 10000, 1, inherit);
  REQUIRE_MESSAGE(host.listening(), host.log());
  std::string ready = notify.next();
  CHECK(ready.rfind("READY=1", 0) == 0);
  CHECK(contains(ready, "MAINPID="));
  CHECK(contains(host.log(), "listener main: serving fd 3"));
  TestClient c(activated.port);
  CHECK(c.echo("through the activated socket") == "through the activated socket");
  host.terminate();
  CHECK(notify.next() == "STOPPING=1");
  CHECK(host.wait_exit() == 0);
}

TEST_CASE("systemd: without a matching name, the socket bound to the listener's address") {
  ModuleDir dir({"raw", "echo"});
  Socket activated(true);  // we keep it open too: the host cannot bind this port itself
  Inherit inherit{{activated.fd}, {"LISTEN_FDS=1", "LISTEN_FDNAMES=gev-host.socket"}, true};
  HostProcess host(GEV_HOST_PATH, host_args(dir, activated.address()), 10000, 1, inherit);
  REQUIRE_MESSAGE(host.listening(), host.log());
  CHECK(contains(host.log(), "serving fd 3 (" + activated.address() + ")"));
  TestClient c(activated.port);
  CHECK(c.echo("matched by address") == "matched by address");
}

TEST_CASE("systemd: fds meant for another process (LISTEN_PID) are left alone") {
  ModuleDir dir({"raw", "echo"});
  Socket activated(true);
  Inherit inherit{{activated.fd}, {"LISTEN_FDS=1", "LISTEN_PID=1", "LISTEN_FDNAMES=main"}, false};
  HostProcess host(GEV_HOST_PATH, host_args(dir, "127.0.0.1:0"), 10000, 1, inherit);
  REQUIRE_MESSAGE(host.listening(), host.log());
  CHECK_FALSE(contains(host.log(), "service manager"));
  TestClient c(host.port());
  CHECK(c.echo("bound by itself") == "bound by itself");
}

TEST_CASE("systemd: a passed socket no listener wants is closed with a warning") {
  ModuleDir dir({"raw", "echo"});
  Socket activated(true);
  Inherit inherit{{activated.fd}, {"LISTEN_FDS=1", "LISTEN_FDNAMES=stray"}, true};
  HostProcess host(GEV_HOST_PATH, host_args(dir, "127.0.0.1:0"), 10000, 1, inherit);
  REQUIRE_MESSAGE(host.listening(), host.log());
  CHECK(contains(host.log(), "name 'stray') matches no listener: closed"));
  TestClient c(host.port());
  CHECK(c.echo("still serving") == "still serving");
}

TEST_CASE("systemd: a passed fd that is not a listening socket is a start-up error") {
  ModuleDir dir({"raw", "echo"});
  Socket bound_only(false);
  Inherit inherit{{bound_only.fd}, {"LISTEN_FDS=1", "LISTEN_FDNAMES=main"}, true};
  HostProcess host(GEV_HOST_PATH, host_args(dir, "127.0.0.1:0"), 10000, 1, inherit);
  CHECK_FALSE(host.listening());
  CHECK(host.wait_exit() == 1);
  CHECK(contains(host.log(), "not a listening TCP socket"));
}

TEST_CASE("signals: SIGHUP reloads, with RELOADING=1 then READY=1 to the service manager") {
  ModuleDir dir({"raw", "echo"});
  Notifier notify;
  Inherit inherit{{}, {notify.env()}, false};
  HostProcess host(GEV_HOST_PATH, host_args(dir, "127.0.0.1:0"), 10000, 1, inherit);
  REQUIRE_MESSAGE(host.listening(), host.log());
  CHECK(notify.next().rfind("READY=1", 0) == 0);
  TestClient before(host.port());
  REQUIRE(::kill(host.pid(), SIGHUP) == 0);
  std::string reloading = notify.next();
  CHECK_MESSAGE(reloading.rfind("RELOADING=1\nMONOTONIC_USEC=", 0) == 0, reloading);
  CHECK(notify.next() == "READY=1");
  CHECK(contains(host.log(), "reload: generation 2 serving"));
  CHECK(before.echo("after SIGHUP") == "after SIGHUP");
  TestClient after(host.port());
  CHECK(after.echo("new connection") == "new connection");
  CHECK(host.wait_exit(200) == -1);
  // A failed reload still ends with READY=1 (systemd waits for it), with a STATUS.
  { std::ofstream(dir.path / "echo.so", std::ios::trunc) << "broken"; }
  REQUIRE(::kill(host.pid(), SIGHUP) == 0);
  CHECK(notify.next().rfind("RELOADING=1", 0) == 0);
  std::string failed = notify.next();
  CHECK_MESSAGE(failed.rfind("READY=1\nSTATUS=reload failed: refused module", 0) == 0, failed);
  CHECK(contains(failed, "not a loadable shared object"));
  CHECK(after.echo("still served") == "still served");
  // A module that refuses its options: its own reason, as in the log and /reload's reply.
  fs::copy_file(fs::path(GEV_MODULE_DIR) / "echo.so", dir.path / "echo.so",
                fs::copy_options::overwrite_existing);
  fs::copy_file(fs::path(GEV_TEST_MODULE_DIR) / "prefix_echo.so", dir.path / "prefix_echo.so");
  REQUIRE(::kill(host.pid(), SIGHUP) == 0);  // prefix_echo is unused: this one succeeds
  CHECK(notify.next().rfind("RELOADING=1", 0) == 0);
  CHECK(notify.next() == "READY=1");
}

TEST_CASE("signals: a failed reload's STATUS carries the module's own reason") {
  ModuleDir dir({"line", "prefix_echo"});
  fs::path conf = dir.path / "host.conf";
  auto write = [&](const char* option) {
    std::ofstream(conf) << "[listener.main]\nlisten = 127.0.0.1:0\nprotocol = line\n"
                           "handler = prefix_echo\n[module.prefix_echo]\n"
                        << option << " = v:\n";
  };
  write("prefix");
  Notifier notify;
  Inherit inherit{{}, {notify.env()}, false};
  HostProcess host(GEV_HOST_PATH,
                   {"--admin", "off", "--config", conf.string(), "--module-dir", dir.path.string()},
                   10000, 1, inherit);
  REQUIRE_MESSAGE(host.listening(), host.log());
  CHECK(notify.next().rfind("READY=1", 0) == 0);
  write("prefx");
  REQUIRE(::kill(host.pid(), SIGHUP) == 0);
  CHECK(notify.next().rfind("RELOADING=1", 0) == 0);
  std::string failed = notify.next();
  CHECK_MESSAGE(contains(failed, "unknown option prefix_echo.prefx (known: prefix)"), failed);
  CHECK(contains(host.log(), "unknown option prefix_echo.prefx (known: prefix) (listener 'main' needs"));
}
