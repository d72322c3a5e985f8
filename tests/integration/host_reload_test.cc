// In-process reload (SIGHUP, POST /reload): handler swaps under load, refused modules,
// the drain deadline, listeners opened and closed, and a timer keeping its module loaded.
#include <doctest/doctest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "fleet.h"
#include "host_fixture.h"
#include "host_process.h"
#include "reload_util.h"
#include "test_client.h"

using namespace gev::test;
namespace fs = std::filesystem;


TEST_CASE("reload: ten handler swaps under load lose, refuse and reset nothing") {
  ModuleDir dir({"line", "echo"});
  write_config(dir, kMainListener);
  HostProcess host(GEV_HOST_PATH, {"--config", (dir.path / "host.conf").string()}, 10000, 2);
  REQUIRE_MESSAGE(host.listening(), host.log());
  uint16_t port = host.port(0), admin = host.port(1);
  size_t baseline = open_fds(host.pid());
  std::string baseline_fds = fd_list(host.pid());

  Fleet fleet;
  std::vector<std::thread> clients;
  // Two clients as fast as they can, two pacing their lines so their connections span swaps.
  for (int i = 0; i < 4; ++i)
    clients.emplace_back([&fleet, port, i] { fleet_client(fleet, port, i, i < 2 ? 0 : 15); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  for (int g = 1; g <= 10; ++g) {
    // Odd swaps install the prefixing build (its prefix from the config file), even ones
    // echo again; odd ones reload by POST /reload, even ones by SIGHUP.
    install(dir, g % 2 ? "echo_v2" : "echo", "echo");
    write_config(dir, kMainListener,
                 g % 2 ? "[module.echo]\nprefix = g" + std::to_string(g) + ":\n" : "");
    fleet.begun = g;
    std::string done = "reload: generation " + std::to_string(g + 1) + " serving";
    if (g % 2) {
      std::string r = reload(admin);
      REQUIRE_MESSAGE(contains(r, "200 OK"), r);
      CHECK(contains(r, "1 modules loaded"));
    } else {
      REQUIRE(::kill(host.pid(), SIGHUP) == 0);
      REQUIRE_MESSAGE(wait_until([&] { return contains(host.log(), done); }, 10000), host.log());
    }
    CHECK(contains(host.log(), done));
    fleet.newest = g;
    // A connection made now gets the new build.
    TestClient probe(port);
    std::string want = g % 2 ? "g" + std::to_string(g) + ":probe\n" : "probe\n";
    REQUIRE(probe.send_all("probe\n"));
    CHECK(probe.recv_exact(want.size(), 5000) == want);
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  fleet.stop = true;
  for (auto& t : clients) t.join();
  for (const auto& e : fleet.errors) FAIL_CHECK(e);
  CHECK(fleet.errors.empty());
  CHECK(fleet.messages.load() > 1000);
  CHECK(fleet.exact.load() > 10);
  CHECK(fleet.spanning.load() >= 5);
  // Every old generation unloads once its connections are gone; the fds are back.
  CHECK_MESSAGE(
      wait_until([&] { return metric(admin, "gev_module_generations_live{module=\"echo\"}") == 1; },
                 10000),
      host.log());
  CHECK(metric(admin, "gev_reloads_total{result=\"ok\"}") == 10);
  CHECK(metric(admin, "gev_reloads_total{result=\"error\"}") == 0);
  CHECK(metric(admin, "gev_generation") == 11);
  CHECK(metric(admin, "gev_connections_closed_total{listener=\"main\",reason=\"peer_reset\"}") ==
        0);
  CHECK(metric(admin, "gev_connections_closed_total{listener=\"main\",reason=\"drain_timeout\"}") ==
        0);
  CHECK_MESSAGE(wait_until([&] { return open_fds(host.pid()) == baseline; }, 5000),
                "at start:\n" << baseline_fds << "now:\n" << fd_list(host.pid()));
  MESSAGE("reload: 10 swaps, " << fleet.connections.load() << " connections (" << fleet.exact.load()
                               << " checked to be the newest generation's, "
                               << fleet.spanning.load() << " spanning a swap), "
                               << fleet.messages.load() << " checked replies, "
                               << fleet.errors.size() << " errors");
  check_clean_exit(host);
}

TEST_CASE("reload: a broken module is refused and the running generation keeps serving") {
  ModuleDir dir({"line", "echo"});
  write_config(dir, kMainListener);
  HostProcess host(GEV_HOST_PATH, {"--config", (dir.path / "host.conf").string()}, 10000, 2);
  REQUIRE_MESSAGE(host.listening(), host.log());
  uint16_t port = host.port(0), admin = host.port(1);
  TestClient before(port);
  REQUIRE(before.echo("one\n") == "one\n");

  // Not a shared object at all.
  { std::ofstream(dir.path / "echo.so", std::ios::trunc) << "not an ELF file"; }
  std::string r = reload(admin);
  CHECK_MESSAGE(contains(r, "500 Internal Server Error"), r);
  CHECK(contains(r, "refused module " + (dir.path / "echo.so").string()));
  CHECK(contains(r, "not a loadable shared object"));
  CHECK(contains(r, "generation 1 keeps serving"));
  CHECK(contains(host.log(), "reload failed: refused module"));
  CHECK(before.echo("two\n") == "two\n");
  TestClient during(port);
  CHECK(during.echo("three\n") == "three\n");

  // The listener's module's create() fails: the module's own reason comes back.
  install(dir, "echo", "echo");
  install(dir, "create_fails", "create_fails");
  write_config(dir,
               "[listener.main]\nlisten = 127.0.0.1:0\nprotocol = line\nhandler = create_fails\n");
  r = reload(admin);
  CHECK_MESSAGE(contains(r, "500 Internal Server Error"), r);
  CHECK(contains(r, "create() failed"));
  CHECK(contains(r, "option 'required' is missing"));
  // A config naming a handler that does not exist.
  fs::remove(dir.path / "create_fails.so");
  write_config(dir, "[listener.main]\nlisten = 127.0.0.1:0\nprotocol = line\nhandler = nope\n");
  r = reload(admin);
  CHECK(contains(r, "no handler module named 'nope'"));
  // A config that does not parse.
  write_config(dir, "[listener.main]\nlisten = 127.0.0.1:0\nbogus = 1\n");
  r = reload(admin);
  CHECK(contains(r, "config: "));
  CHECK(contains(r, "unknown option"));
  CHECK(metric(admin, "gev_reloads_total{result=\"error\"}") == 4);
  CHECK(metric(admin, "gev_generation") == 1);
  CHECK(before.echo("four\n") == "four\n");

  // Fixed: the next reload works, and the old connection is still served.
  write_config(dir, kMainListener);
  r = reload(admin);
  CHECK_MESSAGE(contains(r, "200 OK"), r);
  CHECK(contains(r, "generation 2 serving"));
  CHECK(before.echo("five\n") == "five\n");
  CHECK(http(admin, "GET", "/reload").find("405") != std::string::npos);
  check_clean_exit(host);
}

TEST_CASE("reload: the drain deadline closes a connection that never finishes") {
  ModuleDir dir({"line", "echo"});
  write_config(dir, kMainListener, "reload-drain-timeout = 2000\n");
  HostProcess host(GEV_HOST_PATH, {"--config", (dir.path / "host.conf").string()}, 10000, 2);
  REQUIRE_MESSAGE(host.listening(), host.log());
  uint16_t port = host.port(0), admin = host.port(1);
  TestClient lingering(port);
  REQUIRE(lingering.echo("hello\n") == "hello\n");
  install(dir, "echo_v2", "echo");
  REQUIRE(contains(reload(admin), "200 OK"));
  // Until the deadline the old generation serves it; then it is closed.
  CHECK(lingering.echo("still old\n") == "still old\n");
  TestClient fresh(port);
  CHECK(fresh.echo("new\n", 5000) == "v2:new\n");
  CHECK(lingering.wait_closed(10000));
  CHECK(wait_until([&] { return contains(host.log(), "drain deadline passed"); }, 2000));
  CHECK(contains(host.log(), "closing 1 connections of older generations"));
  CHECK(metric(admin, "gev_connections_closed_total{listener=\"main\",reason=\"drain_timeout\"}") ==
        1);
  CHECK(wait_until([&] { return contains(host.log(), "unloaded module echo (generation 1)"); },
                   5000));
  CHECK(metric(admin, "gev_module_generations_live{module=\"echo\"}") == 1);
  CHECK(fresh.echo("kept\n", 5000) == "v2:kept\n");
  check_clean_exit(host);
}

TEST_CASE("reload: listeners added to the config open, removed ones close") {
  ModuleDir dir({"line", "raw", "echo"});
  write_config(dir, kMainListener, "reload-drain-timeout = 3000\n");
  HostProcess host(GEV_HOST_PATH, {"--config", (dir.path / "host.conf").string()}, 10000, 2);
  REQUIRE_MESSAGE(host.listening(), host.log());
  uint16_t main_port = host.port(0), admin = host.port(1);
  TestClient held(main_port);
  REQUIRE(held.echo("a\n") == "a\n");

  const char* extra = "[listener.extra]\nlisten = 127.0.0.1:0\nprotocol = raw\nhandler = echo\n";
  write_config(dir, std::string(kMainListener) + extra, "reload-drain-timeout = 3000\n");
  std::string r = reload(admin);
  REQUIRE_MESSAGE(contains(r, "200 OK"), r);
  CHECK(contains(r, "1 opened"));
  uint16_t extra_port = last_listening_port(host.log());
  REQUIRE(extra_port != 0);
  REQUIRE(extra_port != main_port);
  TestClient e(extra_port);
  CHECK(e.echo("raw bytes") == "raw bytes");

  // Remove main: its socket closes, its open connection is served until the deadline.
  write_config(dir, extra, "reload-drain-timeout = 3000\n");
  r = reload(admin);
  REQUIRE_MESSAGE(contains(r, "200 OK"), r);
  CHECK(contains(r, "1 closed"));
  CHECK(wait_until([&] { return !TestClient().connect(main_port); }, 2000));
  CHECK(held.echo("b\n") == "b\n");
  CHECK(e.echo("still") == "still");
  CHECK(contains(host.log(), "reload: listener main on 127.0.0.1:0 removed"));
  CHECK(held.wait_closed(10000));  // the drain deadline
  CHECK(metric(admin, "gev_connections_closed_total{listener=\"main\",reason=\"drain_timeout\"}") ==
        1);
  CHECK(e.echo("unaffected") == "unaffected");
  // Back again, on a new socket.
  write_config(dir, std::string(kMainListener) + extra, "reload-drain-timeout = 3000\n");
  REQUIRE(contains(reload(admin), "200 OK"));
  TestClient again(last_listening_port(host.log()));
  CHECK(again.echo("c\n") == "c\n");
  CHECK(metric(admin, "gev_module_generations_live{module=\"echo\"}") == 1);
  check_clean_exit(host);
}

TEST_CASE("reload: timers and tasks keep their module loaded until they have run") {
  ModuleDir dir({"line", "late_echo"});
  // The timer must outlast the reload, even on a slow machine under a sanitizer.
  write_config(dir, "[listener.main]\nlisten = 127.0.0.1:0\nprotocol = line\nhandler = late_echo\n",
               "[module.late_echo]\ndelay_ms = 2000\n");
  HostProcess host(GEV_HOST_PATH, {"--config", (dir.path / "host.conf").string()}, 10000, 2);
  REQUIRE_MESSAGE(host.listening(), host.log());
  uint16_t port = host.port(0), admin = host.port(1);
  {
    TestClient c(port);
    REQUIRE(c.echo("x\n") == "x\n");  // starts a 2 s timer on no connection
  }
  // The connection is gone and a new build replaces the module before the timer fires.
  install(dir, "late_echo", "late_echo");
  REQUIRE(contains(reload(admin), "200 OK"));
  // (Were the reload slower than the timer, this case would prove nothing.)
  std::string at_reload = host.log();
  CHECK_MESSAGE(!contains(at_reload, "timer fired"), at_reload);
  std::string unloaded = "unloaded module late_echo (generation 1)";
  REQUIRE_MESSAGE(wait_until([&] { return contains(host.log(), unloaded); }, 15000), host.log());
  std::string log = host.log();
  size_t fired = log.find("timer fired");
  CHECK(fired != std::string::npos);
  CHECK(fired < log.find(unloaded));
  size_t task = log.find("task ran");
  CHECK(task != std::string::npos);
  CHECK(task < log.find(unloaded));
  TestClient after(port);
  CHECK(after.echo("y\n") == "y\n");
  CHECK(wait_until(
      [&] { return metric(admin, "gev_module_generations_live{module=\"late_echo\"}") == 1; },
      5000));
  check_clean_exit(host);
}

TEST_CASE("reload: a listener whose settings change keeps its port and its connections") {
  ModuleDir dir({"line", "echo"});
  write_config(dir, kMainListener);
  HostProcess host(GEV_HOST_PATH, {"--config", (dir.path / "host.conf").string()}, 10000, 2);
  REQUIRE_MESSAGE(host.listening(), host.log());
  uint16_t port = host.port(0);
  // The config now names the port the kernel chose: the listener's settings changed, and
  // the replacement finds the socket bound to that address and shares it.
  std::string listener = "[listener.main]\nlisten = 127.0.0.1:" + std::to_string(port) +
                         "\nprotocol = line\nhandler = echo\n";
  uint16_t admin = host.port(1);
  TestClient held(port);
  REQUIRE(held.echo("a\n") == "a\n");
  write_config(dir, listener + "max-connections = 100\n");
  std::string r = reload(admin);
  REQUIRE_MESSAGE(contains(r, "200 OK"), r);
  CHECK(contains(r, "1 opened"));
  CHECK(contains(r, "1 closed"));
  CHECK(
      contains(host.log(), "reload: listener main on 127.0.0.1:0 replaced (its settings changed)"));
  CHECK(host.log().find("listening on 127.0.0.1:" + std::to_string(port)) !=
        host.log().rfind("listening on 127.0.0.1:" + std::to_string(port)));  // shared
  TestClient fresh(port);  // the same port, now served by the new listener
  CHECK(fresh.echo("b\n") == "b\n");
  CHECK(held.echo("c\n") == "c\n");  // same pipeline (same modules): not drained
  // Turning reuseport on for an address in use is refused, and nothing changes.
  write_config(dir, listener + "reuseport = true\n");
  r = reload(admin);
  CHECK(contains(r, "500"));
  CHECK(contains(r, "needs a restart"));
  TestClient still(port);
  CHECK(still.echo("d\n") == "d\n");
  check_clean_exit(host);
}

TEST_CASE("reload: a repeating timer does not keep an old generation loaded") {
  for (std::string start : {"message", "create", "thread"}) {
    CAPTURE(start);
    ModuleDir dir({"line", "ticker"});
    write_config(dir, "[listener.main]\nlisten = 127.0.0.1:0\nprotocol = line\nhandler = ticker\n",
                 "[module.ticker]\nstart = " + start + "\n");
    HostProcess host(GEV_HOST_PATH, {"--config", (dir.path / "host.conf").string()}, 10000, 2);
    REQUIRE_MESSAGE(host.listening(), host.log());
    uint16_t port = host.port(0), admin = host.port(1);
    {
      TestClient c(port);
      REQUIRE(c.echo("x\n") == "x\n");  // starts this loop's 20 ms ticker
    }
    install(dir, "ticker", "ticker");
    REQUIRE(contains(reload(admin), "200 OK"));
    // loop_fini cancels it, then the old instance goes.
    CHECK_MESSAGE(
        wait_until([&] { return contains(host.log(), "unloaded module ticker (generation 1)"); },
                   10000),
        host.log());
    CHECK(contains(host.log(), "[ticker] destroyed"));
    // A tick the host failed to cancel would now jump into the unloaded library.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    TestClient after(port);
    CHECK(after.echo("y\n") == "y\n");
    CHECK(metric(admin, "gev_module_generations_live{module=\"ticker\"}") == 1);
    check_clean_exit(host);
  }
}

TEST_CASE("reload: SIGHUP racing SIGTERM ends cleanly") {
  ModuleDir dir({"line", "echo"});
  write_config(dir, kMainListener);
  for (int i = 0; i < 5; ++i) {
    install(dir, "echo", "echo");
    HostProcess host(GEV_HOST_PATH, {"--config", (dir.path / "host.conf").string()}, 10000, 2);
    REQUIRE_MESSAGE(host.listening(), host.log());
    TestClient c(host.port(0));
    REQUIRE(c.echo("x\n") == "x\n");
    install(dir, "echo_v2", "echo");  // so the reload loads a module
    ::kill(host.pid(), SIGHUP);
    if (i % 2) std::this_thread::sleep_for(std::chrono::milliseconds(i));
    ::kill(host.pid(), SIGTERM);
    const std::string& log = host.log();
    CHECK_MESSAGE(host.wait_exit(10000) == 0, log);
    CHECK_MESSAGE(!contains(host.log(), "Sanitizer"), host.log());
    CHECK_MESSAGE(!contains(host.log(), "still referenced at exit"), host.log());
  }
}
