// Restart hand-off (--handoff-socket / --takeover) under load: a fleet of clients keeps
// connecting and exchanging checked lines while gev-host is replaced five times, each new
// host answering differently from the one before (echo, then prefix_echo, ...).
#include <doctest/doctest.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fleet.h"
#include "host_fixture.h"
#include "host_process.h"
#include "test_client.h"

using namespace gev::test;

namespace {

// Generation g answers "x\n" with "x\n" (even g: echo) or "g<g>:x\n" (odd g: prefix_echo).
std::vector<std::string> generation_args(const ModuleDir& dir, const std::string& listen,
                                         const std::string& sock, int g) {
  std::vector<std::string> a = args(dir, "line", g % 2 ? "prefix_echo" : "echo",
                                    {"--handoff-socket", sock, "--drain-timeout", "10000"});
  a[3] = listen;  // args() puts the --listen value at index 3
  if (g % 2) {
    a.push_back("--module-opt");
    a.push_back("prefix_echo.prefix=g" + std::to_string(g) + ":");
  }
  if (g > 0) {
    a.push_back("--takeover");
    a.push_back(sock);
  }
  return a;
}

}  // namespace

TEST_CASE("hand-off: five restarts under load lose, refuse and reset nothing") {
  ModuleDir dir({"line", "echo", "prefix_echo"});
  std::string sock = dir.path.string() + "/handoff.sock";
  std::vector<std::unique_ptr<HostProcess>> hosts;
  hosts.push_back(
      std::make_unique<HostProcess>(GEV_HOST_PATH, generation_args(dir, "127.0.0.1:0", sock, 0)));
  REQUIRE_MESSAGE(hosts[0]->listening(), hosts[0]->log());
  uint16_t port = hosts[0]->port();
  std::string listen = "127.0.0.1:" + std::to_string(port);
  for (int i = 0; i < 50 && !contains(hosts[0]->log(), "hand-off socket"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));

  Fleet fleet;
  std::vector<std::thread> clients;
  // Two clients as fast as they can, two pacing their lines so their connections span swaps.
  for (int i = 0; i < 4; ++i)
    clients.emplace_back([&fleet, port, i] { fleet_client(fleet, port, i, i < 2 ? 0 : 15); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  for (int g = 1; g <= 5; ++g) {
    fleet.begun = g;
    hosts.push_back(
        std::make_unique<HostProcess>(GEV_HOST_PATH, generation_args(dir, listen, sock, g)));
    HostProcess& now = *hosts.back();
    REQUIRE_MESSAGE(now.listening(), now.log());
    for (int i = 0; i < 250 && !contains(now.log(), "hand-off socket"); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    REQUIRE_MESSAGE(contains(now.log(), "took over from"), now.log());
    fleet.newest = g;
    // A connection made now is the new host's.
    TestClient probe(port);
    std::string want = g % 2 ? "g" + std::to_string(g) + ":probe\n" : "probe\n";
    REQUIRE(probe.send_all("probe\n"));
    CHECK(probe.recv_exact(want.size(), 5000) == want);
    // The old host drains (its clients finish their 20 lines) and exits by itself.
    HostProcess& old = *hosts[hosts.size() - 2];
    CHECK_MESSAGE(old.wait_exit(15000) == 0, old.log());
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  fleet.stop = true;
  for (auto& t : clients) t.join();
  for (const auto& e : fleet.errors) FAIL_CHECK(e);
  CHECK(fleet.errors.empty());
  CHECK(fleet.messages.load() > 1000);
  CHECK(fleet.spanning.load() >= 3);
  MESSAGE("hand-off: 5 restarts, " << fleet.connections.load() << " connections ("
                                   << fleet.exact.load() << " checked to be the newest host's, "
                                   << fleet.spanning.load() << " spanning a restart), "
                                   << fleet.messages.load() << " checked replies, "
                                   << fleet.errors.size() << " errors");
}

TEST_CASE("hand-off: a successor that fails to start leaves the old host serving") {
  ModuleDir dir({"line", "echo"});
  std::string sock = dir.path.string() + "/handoff.sock";
  HostProcess old(GEV_HOST_PATH, generation_args(dir, "127.0.0.1:0", sock, 0));
  REQUIRE_MESSAGE(old.listening(), old.log());
  TestClient before(old.port());
  for (int i = 0; i < 50 && !contains(old.log(), "hand-off socket"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  // The successor takes the sockets, then cannot bind its admin address (held here):
  // it exits 1 without saying READY.
  std::vector<std::string> bad = args(dir, "line", "echo", {"--takeover", sock});
  bad[1] = "127.0.0.1:" + std::to_string(old.port());  // --admin on a port in use
  HostProcess failed(GEV_HOST_PATH, bad, 5000);
  CHECK(failed.wait_exit(10000) == 1);
  CHECK(contains(failed.log(), "socket from the previous gev-host"));
  for (int i = 0; i < 100 && !contains(old.log(), "still serving"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(contains(old.log(), "never said READY): still serving"));
  CHECK(before.echo("still the old one\n") == "still the old one\n");
  TestClient after(old.port());
  CHECK(after.echo("new connections too\n") == "new connections too\n");
  CHECK(old.wait_exit(200) == -1);
}

TEST_CASE("hand-off: the drain deadline closes a connection that never finishes") {
  ModuleDir dir({"line", "echo"});
  std::string sock = dir.path.string() + "/handoff.sock";
  std::vector<std::string> first = generation_args(dir, "127.0.0.1:0", sock, 0);
  first[first.size() - 1] = "300";  // --drain-timeout 300 ms (the last argument pair)
  HostProcess old(GEV_HOST_PATH, first);
  REQUIRE_MESSAGE(old.listening(), old.log());
  std::string listen = "127.0.0.1:" + std::to_string(old.port());
  TestClient lingering(old.port());
  REQUIRE(lingering.echo("hello\n") == "hello\n");
  for (int i = 0; i < 50 && !contains(old.log(), "hand-off socket"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::vector<std::string> second = generation_args(dir, listen, sock, 2);  // echo again
  HostProcess next(GEV_HOST_PATH, second);
  REQUIRE_MESSAGE(next.listening(), next.log());
  // The idle client holds the old host past its deadline; then it is closed, and the old
  // host exits 0.
  CHECK(lingering.wait_closed(5000));
  CHECK_MESSAGE(old.wait_exit(5000) == 0, old.log());
  CHECK(contains(old.log(), "drain deadline passed with 1 connections open"));
  TestClient fresh(next.port());
  CHECK(fresh.echo("served by the successor\n") == "served by the successor\n");
}
