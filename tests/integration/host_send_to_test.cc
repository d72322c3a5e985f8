// send_to (ABI 1.1): a handler answering from a thread of its own, by connection id.
#include <doctest/doctest.h>

#include <string>
#include <thread>
#include <vector>

#include "host_fixture.h"
#include "host_process.h"
#include "test_client.h"

using namespace gev::test;

TEST_CASE("send_to: replies from a module's own thread reach the right connections in order") {
  ModuleDir dir({"line", "async_echo"});
  HostProcess host(GEV_HOST_PATH, args(dir, "line", "async_echo"));
  REQUIRE_MESSAGE(host.listening(), host.log());
  // Several clients at once, each checking it gets its own lines back, in order.
  constexpr int kClients = 8;
  constexpr int kLines = 200;
  std::vector<std::string> got(kClients);
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      TestClient c(host.port());
      std::string want;
      for (int k = 0; k < kLines; ++k)
        want += "client " + std::to_string(i) + " line " + std::to_string(k) + "\n";
      if (!c.send_all(want)) return;
      std::string back = c.recv_exact(want.size(), 10000);
      got[i] = back == want ? "ok" : "mismatch: " + back.substr(0, 80);
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kClients; ++i)
    CHECK_MESSAGE(got[i] == "ok", "client " << i << ": " << got[i]);
}

TEST_CASE("send_to: a connection that has gone is skipped; the host goes on") {
  ModuleDir dir({"line", "async_echo"});
  HostProcess host(GEV_HOST_PATH, args(dir, "line", "async_echo"));
  REQUIRE_MESSAGE(host.listening(), host.log());
  for (int i = 0; i < 50; ++i) {
    TestClient gone(host.port());
    gone.send_all(std::string(1000, 'x') + "\n");
  }  // closed before (or while) the worker answers
  TestClient c(host.port());
  CHECK(c.echo("still here\n") == "still here\n");
}
