// Hot swap that strands and drops nobody: stray module files, a failed reload's reason,
// long-lived connections kept across reloads, live migration of connections (with their
// state) to a new build, and goodbyes on stop (WebSocket close 1001, on_stopping).
#include <doctest/doctest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "fleet.h"
#include "reload_util.h"
#include "ws_client.h"

using namespace gev::test;
using namespace gev::test::ws;
namespace fs = std::filesystem;

namespace {
const char* kTallyListener =
    "[listener.main]\nlisten = 127.0.0.1:0\nprotocol = line\nhandler = tally\n";
const char* kChatListener =
    "[listener.chat]\nlisten = 127.0.0.1:0\nprotocol = websocket\nhandler = chat\n";

std::string read_line(TestClient& c) {
  std::string got;
  while (got.empty() || got.back() != '\n') {
    std::string more = c.recv_exact(1, 5000);
    if (more.empty()) return got + "(EOF or timeout)";
    got += more;
  }
  return got.substr(0, got.size() - 1);
}
std::string line_reply(TestClient& c, const std::string& line) {
  if (!c.send_all(line + "\n")) return "(send failed)";
  return read_line(c);
}
}  // namespace

TEST_CASE("reload: a stray file or a backup copy jams nothing; two claims on a used name fail") {
  ModuleDir dir({"line", "echo", "prefix_echo"});
  write_config(dir, kMainListener);
  HostProcess host(GEV_HOST_PATH, {"--config", (dir.path / "host.conf").string()}, 10000, 2);
  REQUIRE_MESSAGE(host.listening(), host.log());
  uint16_t port = host.port(0), admin = host.port(1);
  TestClient held(port);
  REQUIRE(held.echo("a\n") == "a\n");

  // Garbage nobody uses: one line, and the reload goes on.
  { std::ofstream(dir.path / "junk.so") << "not a module"; }
  std::string r = reload(admin);
  CHECK_MESSAGE(contains(r, "200 OK"), r);
  CHECK(contains(r, "1 refused"));
  CHECK(contains(host.log(), "refused module " + (dir.path / "junk.so").string() +
                                 ": not a loadable shared object"));
  // A backup copy of a module no listener uses: both copies refused, the reload goes on.
  fs::copy_file(dir.path / "prefix_echo.so", dir.path / "prefix_echo-backup.so");
  r = reload(admin);
  CHECK_MESSAGE(contains(r, "200 OK"), r);
  CHECK(contains(host.log(), (dir.path / "prefix_echo-backup.so").string() + " and " +
                                 (dir.path / "prefix_echo.so").string() +
                                 " both claim the name 'prefix_echo'"));
  CHECK(wait_until([&] {
    return metric(admin, "gev_module_generations_live{module=\"prefix_echo\"}") == -1;
  }));
  CHECK(metric(admin, "gev_generation") == 3);

  // A backup copy of the module the listener uses: the reload fails, naming both files.
  fs::copy_file(dir.path / "echo.so", dir.path / "echo-backup.so");
  r = reload(admin);
  CHECK_MESSAGE(contains(r, "500 Internal Server Error"), r);
  CHECK(contains(r, (dir.path / "echo-backup.so").string() + " and " +
                        (dir.path / "echo.so").string() + " both claim the name 'echo'"));
  CHECK(contains(r, "(listener 'main' needs 'echo' as its handler)"));
  CHECK(contains(r, "generation 3 keeps serving"));
  CHECK(held.echo("b\n") == "b\n");
  // The config says which: served by that file.
  write_config(dir, kMainListener, "[module.echo]\nfile = echo-backup.so\n");
  r = reload(admin);
  CHECK_MESSAGE(contains(r, "200 OK"), r);
  CHECK(contains(r, "generation 4 serving"));
  CHECK(contains(host.log(), "loaded module echo 1.0.0 from " +
                                 (dir.path / "echo-backup.so").string() + " (generation 4)"));
  CHECK(contains(host.log(), "module echo: not loading " + (dir.path / "echo.so").string()));
  CHECK(held.echo("c\n") == "c\n");
  TestClient fresh(port);
  CHECK(fresh.echo("d\n") == "d\n");
  check_clean_exit(host);
}

TEST_CASE("start-up: two files claiming a listener's module are an error naming both") {
  ModuleDir dir({"raw", "echo"});
  fs::copy_file(dir.path / "echo.so", dir.path / "echo-old.so");
  HostProcess bad(GEV_HOST_PATH, args(dir, "raw", "echo"));
  CHECK_FALSE(bad.listening());
  CHECK(bad.wait_exit() == 1);
  CHECK_MESSAGE(contains(bad.log(), (dir.path / "echo-old.so").string() + " and " +
                                        (dir.path / "echo.so").string() +
                                        " both claim the name 'echo'"),
                bad.log());
  // Chosen on the command line (as [module.echo] file = ... in a config file).
  HostProcess good(GEV_HOST_PATH, args(dir, "raw", "echo", {"--module-opt", "echo.file=echo.so"}));
  REQUIRE_MESSAGE(good.listening(), good.log());
  TestClient c(good.port());
  CHECK(c.echo("one of two") == "one of two");
  CHECK(contains(good.log(), "module echo: not loading " + (dir.path / "echo-old.so").string()));
}

TEST_CASE("reload: a failed reload says the module's own reason everywhere, costs no generation") {
  ModuleDir dir({"line", "prefix_echo"});
  const char* listener =
      "[listener.main]\nlisten = 127.0.0.1:0\nprotocol = line\nhandler = prefix_echo\n";
  write_config(dir, listener, "[module.prefix_echo]\nprefix = a:\n");
  HostProcess host(GEV_HOST_PATH, {"--config", (dir.path / "host.conf").string()}, 10000, 2);
  REQUIRE_MESSAGE(host.listening(), host.log());
  uint16_t port = host.port(0), admin = host.port(1);
  write_config(dir, listener, "[module.prefix_echo]\nprefx = b:\n");  // a typo
  std::string r = reload(admin);
  CHECK_MESSAGE(contains(r, "500 Internal Server Error"), r);
  const std::string why = "unknown option prefix_echo.prefx (known: prefix)";
  CHECK(contains(r, why));
  CHECK(contains(r, "create() failed with status -5"));
  CHECK(contains(host.log(), "reload failed: refused module " +
                                 (dir.path / "prefix_echo.so").string() + ": create() failed"));
  CHECK(contains(host.log().substr(host.log().rfind("reload failed")), why));
  CHECK(metric(admin, "gev_generation") == 1);
  TestClient c(port);
  CHECK(c.echo("x\n") == "a:x\n");
  write_config(dir, listener, "[module.prefix_echo]\nprefix = b:\n");
  r = reload(admin);
  CHECK_MESSAGE(contains(r, "generation 2 serving"), r);  // not 3: the failure took none
  TestClient d(port);
  CHECK(d.echo("y\n", 5000) == "b:y\n");
  check_clean_exit(host);
}

TEST_CASE("reload: a swapped handler's connections are served until they close, not drained") {
  ModuleDir dir({"line", "echo"});
  // The hand-off's drain deadline is not a reload's: a reload drains only when told to.
  write_config(dir, kMainListener, "drain-timeout = 300\n");
  HostProcess host(GEV_HOST_PATH, {"--config", (dir.path / "host.conf").string()}, 10000, 2);
  REQUIRE_MESSAGE(host.listening(), host.log());
  uint16_t port = host.port(0), admin = host.port(1);
  TestClient held(port);
  REQUIRE(held.echo("a\n") == "a\n");
  install(dir, "echo_v2", "echo");  // does not adopt: the old instance keeps the connection
  REQUIRE(contains(reload(admin), "200 OK"));
  TestClient fresh(port);
  CHECK(fresh.echo("b\n", 5000) == "v2:b\n");
  // Both generations and what each serves.
  CHECK(metric(admin, "gev_module_connections{module=\"echo\",generation=\"1\"}") == 1);
  CHECK(metric(admin, "gev_module_connections{module=\"echo\",generation=\"2\"}") == 1);
  CHECK(metric(admin, "gev_module_generations_live{module=\"echo\"}") == 2);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // 5 x the hand-off's deadline
  CHECK(held.echo("still here\n") == "still here\n");
  CHECK_FALSE(contains(host.log(), "drain deadline"));
  held.close();
  CHECK(wait_until(
      [&] { return metric(admin, "gev_module_generations_live{module=\"echo\"}") == 1; }, 10000));
  CHECK(metric(admin, "gev_module_connections{module=\"echo\",generation=\"1\"}") == -1);
  CHECK(metric(admin, "gev_connections_closed_total{listener=\"main\",reason=\"drain_timeout\"}") ==
        0);
  check_clean_exit(host);
}

TEST_CASE("reload: live migration moves every connection to the new build under a fleet") {
  ModuleDir dir({"line", "echo"});
  write_config(dir, kMainListener);
  HostProcess host(GEV_HOST_PATH, {"--config", (dir.path / "host.conf").string()}, 10000, 2);
  REQUIRE_MESSAGE(host.listening(), host.log());
  uint16_t port = host.port(0), admin = host.port(1);
  size_t baseline = open_fds(host.pid());

  Fleet fleet;
  fleet.migrate = true;
  std::vector<std::thread> clients;
  // Two clients as fast as they can; two holding one connection for many swaps.
  for (int i = 0; i < 4; ++i)
    clients.emplace_back(fleet_client, std::ref(fleet), port, i, i < 2 ? 0 : 10, i < 2 ? 20 : 400);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  for (int g = 1; g <= 6; ++g) {
    // Odd swaps install the prefixing build that adopts (echo_v2m), even ones echo again.
    install(dir, g % 2 ? "echo_v2m" : "echo", "echo");
    write_config(dir, kMainListener,
                 g % 2 ? "[module.echo]\nprefix = g" + std::to_string(g) + ":\n" : "");
    fleet.begun = g;
    std::string done = "reload: generation " + std::to_string(g + 1) + " serving";
    if (g % 2) {
      std::string r = reload(admin);
      REQUIRE_MESSAGE(contains(r, "200 OK"), r);
      CHECK(contains(r, "connections moved to the new generation"));
      CHECK_FALSE(contains(r, "failed to move"));
    } else {
      REQUIRE(::kill(host.pid(), SIGHUP) == 0);
      REQUIRE_MESSAGE(wait_until([&] { return contains(host.log(), done); }, 10000), host.log());
    }
    fleet.newest = g;
    // Nothing is left on the old instance, although long-lived connections are open.
    CHECK_MESSAGE(wait_until([&] {
                    return metric(admin, "gev_module_generations_live{module=\"echo\"}") == 1;
                  }, 10000),
                  host.log());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  fleet.stop = true;
  for (auto& t : clients) t.join();
  for (const auto& e : fleet.errors) FAIL_CHECK(e);
  CHECK(fleet.errors.empty());
  CHECK(fleet.messages.load() > 500);
  CHECK(fleet.moved.load() > 20);  // lines on connections older than the build answering them
  CHECK(metric(admin, "gev_connections_migrated_total{result=\"ok\"}") > 0);
  CHECK(metric(admin, "gev_connections_migrated_total{result=\"failed\"}") == 0);
  CHECK(metric(admin, "gev_connections_closed_total{listener=\"main\",reason=\"peer_reset\"}") ==
        0);
  CHECK(wait_until([&] { return open_fds(host.pid()) == baseline; }, 10000));
  MESSAGE("live migration: 6 swaps, " << fleet.connections.load() << " connections, "
                                      << fleet.messages.load() << " checked replies ("
                                      << fleet.moved.load()
                                      << " by a build newer than their connection), "
                                      << metric(admin, "gev_connections_migrated_total{result=\"ok\"}")
                                      << " connections moved, " << fleet.errors.size()
                                      << " errors");
  check_clean_exit(host);
}

TEST_CASE("reload: live migration hands over connection and module state; a failure costs one") {
  ModuleDir dir({"line", "tally"});
  write_config(dir, kTallyListener);
  HostProcess host(GEV_HOST_PATH, {"--config", (dir.path / "host.conf").string()}, 10000, 2);
  REQUIRE_MESSAGE(host.listening(), host.log());
  uint16_t port = host.port(0), admin = host.port(1);
  TestClient a(port), b(port), no_export(port), no_import(port);
  CHECK(line_reply(a, "x") == "1 1");
  CHECK(line_reply(a, "x") == "2 2");
  CHECK(line_reply(b, "x") == "1 3");
  CHECK(line_reply(no_export, "fail-export") == "1 4");
  CHECK(line_reply(no_import, "fail-import") == "1 5");

  install(dir, "tally_v2", "tally");
  std::string r = reload(admin);
  CHECK_MESSAGE(contains(r, "200 OK"), r);
  CHECK(contains(r, "2 connections moved to the new generation, 2 failed to move (closed)"));
  // The new build answers, counting on from the old one's numbers.
  CHECK(line_reply(a, "x") == "v2 3 6");
  CHECK(line_reply(b, "x") == "v2 2 7");
  CHECK(no_export.wait_closed(5000));
  CHECK(no_import.wait_closed(5000));
  TestClient c(port);
  CHECK(line_reply(c, "x") == "v2 1 8");
  CHECK(contains(host.log(), "failed to export it"));
  CHECK(contains(host.log(), "failed to import it"));
  CHECK(metric(admin, "gev_connections_migrated_total{result=\"ok\"}") == 2);
  CHECK(metric(admin, "gev_connections_migrated_total{result=\"failed\"}") == 2);
  CHECK(wait_until(
      [&] { return metric(admin, "gev_module_generations_live{module=\"tally\"}") == 1; }, 10000));
  // And back: the first build adopts from the second as well.
  install(dir, "tally", "tally");
  REQUIRE(contains(reload(admin), "3 connections moved"));
  CHECK(line_reply(a, "x") == "4 9");
  check_clean_exit(host);
}

TEST_CASE("reload: chat users stay connected across a chat.so swap and meet the new build") {
  ModuleDir dir({"websocket", "chat"});
  // (debug: the websocket module logs a closing handshake it had to cut)
  write_config(dir, kChatListener, "log-level = debug\n[module.chat]\nannounce = 0\n");
  HostProcess host(GEV_HOST_PATH, {"--config", (dir.path / "host.conf").string()}, 10000, 2);
  REQUIRE_MESSAGE(host.listening(), host.log());
  uint16_t port = host.port(0), admin = host.port(1);
  Handshake join;
  join.target = "/ws";
  WsClient alice(port), bob(port);
  alice.open(join);
  bob.open(join);
  alice.send_message(kText, "hello");
  alice.expect_message(kText, "hello");
  bob.expect_message(kText, "hello");

  install(dir, "chat_v2", "chat");
  std::string r = reload(admin);
  CHECK_MESSAGE(contains(r, "2 connections moved to the new generation"), r);
  bob.send_message(kText, "still here?");
  alice.expect_message(kText, "[v2] still here?");
  bob.expect_message(kText, "[v2] still here?");
  CHECK(wait_until(
      [&] { return metric(admin, "gev_module_generations_live{module=\"chat\"}") == 1; }, 10000));
  // A newcomer joins the same room.
  WsClient carol(port);
  carol.open(join);
  carol.send_message(kText, "hi all");
  for (WsClient* w : {&alice, &bob, &carol}) w->expect_message(kText, "[v2] hi all");

  // SIGTERM: every member gets 1001 Going Away and the host waits for the answer.
  REQUIRE(::kill(host.pid(), SIGTERM) == 0);
  for (WsClient* w : {&alice, &bob, &carol}) {
    std::string payload = w->answer_close(1001);
    CHECK(payload.substr(2) == "server stopping");
  }
  CHECK(host.wait_exit(10000) == 0);
  // Each closing handshake finished: none was cut by the module's close timeout or the
  // stop's deadline.
  CHECK_FALSE(contains(host.log(), "close timed out"));
  CHECK_FALSE(contains(host.log(), "at the deadline"));
  CHECK(contains(host.log(), "peer closed with 1001"));
}

TEST_CASE("stop: open WebSockets get close 1001, handlers say goodbye, a silent peer is cut") {
  ModuleDir dir({"websocket", "echo", "line", "tally"});
  fs::path conf = dir.path / "host.conf";
  {
    std::ofstream f(conf);
    f << "loops = 2\nadmin = off\nmodule-dir = " << dir.path.string()
      << "\n[listener.ws]\nlisten = 127.0.0.1:0\nprotocol = websocket\nhandler = echo\n"
         "[listener.tally]\nlisten = 127.0.0.1:0\nprotocol = line\nhandler = tally\n"
         "[module.websocket]\nclose_timeout_ms = 1000\n";
  }
  HostProcess host(GEV_HOST_PATH, {"--config", conf.string()}, 10000, 2);
  REQUIRE_MESSAGE(host.listening(), host.log());
  WsClient polite(host.port(0)), silent(host.port(0));
  polite.open();
  silent.open();
  polite.expect_echo(kText, "before");
  TestClient t(host.port(1));
  CHECK(line_reply(t, "x") == "1 1");
  REQUIRE(::kill(host.pid(), SIGTERM) == 0);
  polite.answer_close(1001);  // the host waits for the answer, then closes TCP
  CHECK(read_line(t) == "bye");  // tally's on_stopping
  CHECK(t.wait_closed(5000));
  // The silent one never answers: closed at the websocket module's close timeout.
  auto f = silent.read_frame(5000);
  REQUIRE(f);
  CHECK(f->opcode == kClose);
  CHECK(silent.wait_tcp_closed(5000));
  CHECK(host.wait_exit(10000) == 0);
}

TEST_CASE("reload: at --reload-drain-timeout an old generation's WebSocket gets close 1001") {
  ModuleDir dir({"websocket", "echo"});
  const char* listener =
      "[listener.ws]\nlisten = 127.0.0.1:0\nprotocol = websocket\nhandler = echo\n";
  write_config(dir, listener, "reload-drain-timeout = 1000\n");
  HostProcess host(GEV_HOST_PATH, {"--config", (dir.path / "host.conf").string()}, 10000, 2);
  REQUIRE_MESSAGE(host.listening(), host.log());
  uint16_t port = host.port(0), admin = host.port(1);
  WsClient old(port);
  old.open();
  old.expect_echo(kText, "hello");
  install(dir, "echo_v2", "echo");  // does not adopt: the connection stays, then drains
  REQUIRE(contains(reload(admin), "200 OK"));
  old.expect_echo(kText, "old build");
  std::string payload = old.answer_close(1001, 10000);
  CHECK(payload.substr(2) == "server stopping");
  CHECK(wait_until([&] { return contains(host.log(), "drain deadline passed"); }, 5000));
  check_clean_exit(host);
}

TEST_CASE("reload: a drained connection whose closing handshake never ends is cut after 5 s") {
  ModuleDir dir({"websocket", "echo"});
  const char* listener =
      "[listener.ws]\nlisten = 127.0.0.1:0\nprotocol = websocket\nhandler = echo\n";
  // close_timeout_ms = 0: the websocket module itself would wait for the peer forever.
  write_config(dir, listener,
               "reload-drain-timeout = 500\n[module.websocket]\nclose_timeout_ms = 0\n");
  HostProcess host(GEV_HOST_PATH, {"--config", (dir.path / "host.conf").string()}, 10000, 2);
  REQUIRE_MESSAGE(host.listening(), host.log());
  uint16_t port = host.port(0), admin = host.port(1);
  WsClient mute(port);
  mute.open();
  mute.expect_echo(kText, "hello");
  install(dir, "echo_v2", "echo");
  REQUIRE(contains(reload(admin), "200 OK"));
  auto f = mute.read_frame(5000);  // the 1001, never answered
  REQUIRE(f);
  CHECK(f->opcode == kClose);
  CHECK(mute.wait_tcp_closed(15000));
  CHECK(metric(admin, "gev_connections_closed_total{listener=\"ws\",reason=\"drain_timeout\"}") ==
        1);
  CHECK(wait_until(
      [&] { return metric(admin, "gev_module_generations_live{module=\"echo\"}") == 1; }, 10000));
  check_clean_exit(host);
}

TEST_CASE("reload: a connection its own export closes is not touched after (live migration)") {
  // tally's conn_export sends 80 MiB to a connection that sent "flood-export": over the
  // 64 MiB output cap, the core closes it inside that send. The host must not use the
  // connection's state after the export returns (ASan sees it if it does).
  ModuleDir dir({"line", "tally"});
  write_config(dir, kTallyListener);
  HostProcess host(GEV_HOST_PATH, {"--config", (dir.path / "host.conf").string()}, 10000, 2);
  REQUIRE_MESSAGE(host.listening(), host.log());
  uint16_t port = host.port(0), admin = host.port(1);
  TestClient a(port), flood(port);
  CHECK(line_reply(a, "x") == "1 1");
  CHECK(line_reply(flood, "flood-export") == "1 2");
  install(dir, "tally_v2", "tally");
  std::string r = reload(admin);
  CHECK_MESSAGE(contains(r, "1 connections moved to the new generation, 1 failed to move"), r);
  CHECK(flood.wait_closed(10000));
  CHECK(line_reply(a, "x") == "v2 2 3");
  CHECK(metric(admin, "gev_connections_closed_total{listener=\"main\",reason=\"slow_consumer\"}") ==
        1);
  CHECK(wait_until(
      [&] { return metric(admin, "gev_module_generations_live{module=\"tally\"}") == 1; }, 10000));
  check_clean_exit(host);
}
