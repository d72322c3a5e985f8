// gev-host end to end: the real binary, real module .so files in a fresh module
// directory, real sockets on 127.0.0.1.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gev/sdk/gev_abi.h>

#include "host_fixture.h"
#include "host_process.h"
#include "test_client.h"

namespace {
const std::string kHostAbi = std::to_string(GEV_ABI_MAJOR) + "." + std::to_string(GEV_ABI_MINOR);
}  // namespace

using namespace gev::test;
namespace fs = std::filesystem;

TEST_CASE("gev-host serves echo over raw from module files") {
  ModuleDir dir{"raw", "echo"};
  HostProcess host(GEV_HOST_PATH, args(dir, "raw", "echo"));
  REQUIRE_MESSAGE(host.listening(), host.log());
  TestClient c(host.port());
  for (size_t size : {size_t{1}, size_t{1000}, size_t{1} << 20}) {
    std::string data = random_bytes(size, static_cast<uint32_t>(size));
    CHECK(c.echo(data) == data);
  }
  CHECK(contains(host.log(), "loaded module raw"));
  CHECK(contains(host.log(), "loaded module echo"));
}

TEST_CASE("broken modules are refused one line each, naming the file and why; the rest serve") {
  ModuleDir dir{"raw", "echo", "wrong_major", "refuses_host", "no_entry", "create_fails"};
  { std::ofstream(dir.path / "not_elf.so") << "this is not an ELF file\n"; }
  HostProcess host(GEV_HOST_PATH, args(dir, "raw", "echo"));
  REQUIRE_MESSAGE(host.listening(), host.log());
  TestClient c(host.port());
  CHECK(c.echo("still serving") == "still serving");
  const std::string& log = host.log();
  INFO(log);
  CHECK(contains(log, "refused module " + (dir.path / "not_elf.so").string() +
                          ": not a loadable shared object"));
  CHECK(contains(log, "refused module " + (dir.path / "no_entry.so").string() +
                          ": no gev_module_entry symbol"));
  CHECK(contains(log, "refused module " + (dir.path / "wrong_major.so").string() +
                          ": built for ABI 99.0, host has " + kHostAbi));
  CHECK(contains(log, "refused module " + (dir.path / "refuses_host.so").string() +
                          ": the module refused host ABI " + kHostAbi));
  CHECK(contains(log, "needs host ABI minor 1000"));  // the module's own words, logged by the host
  CHECK(contains(
      log, "refused module " + (dir.path / "create_fails.so").string() + ": create() failed"));
  // The module's own reason, with the status.
  CHECK(contains(log, "create() failed with status"));
  CHECK(contains(log, "option 'required' is missing"));
}

TEST_CASE("a listener naming a module that is not there is a start-up error") {
  ModuleDir dir{"raw"};
  HostProcess host(GEV_HOST_PATH, args(dir, "raw", "echo"));
  CHECK_FALSE(host.listening());
  CHECK(host.wait_exit() == 1);
  CHECK(contains(host.log(), "no handler module named 'echo'"));
}

TEST_CASE("a bad option is reported by name before anything listens") {
  ModuleDir dir{"raw", "echo"};
  HostProcess bad(GEV_HOST_PATH, {"--loops", "many"});
  CHECK(bad.wait_exit() == 2);
  CHECK(contains(bad.log(), "loops"));
  HostProcess huge(GEV_HOST_PATH, {"--loops=100000"});
  CHECK(huge.wait_exit() == 2);
  CHECK(contains(huge.log(), "--loops: 100000 is not between 0 and 1024"));
  HostProcess bad_opt(GEV_HOST_PATH, {"--module-opt", "nodot"});
  CHECK(bad_opt.wait_exit() == 2);
  CHECK(contains(bad_opt.log(), "--module-opt: 'nodot' is not NAME.KEY=VALUE"));
}

TEST_CASE("a handler that throws or fails costs only its own connection") {
  ModuleDir dir{"raw", "thrower"};
  HostProcess host(GEV_HOST_PATH, args(dir, "raw", "thrower"));
  REQUIRE_MESSAGE(host.listening(), host.log());
  TestClient good(host.port());
  TestClient boom(host.port());
  TestClient fail(host.port());
  REQUIRE(good.echo("a") == "a");
  REQUIRE(boom.send_all("boom"));
  CHECK(boom.wait_closed(3000));
  REQUIRE(fail.send_all("fail"));
  CHECK(fail.wait_closed(3000));
  CHECK(good.echo("b") == "b");
  REQUIRE(good.send_all("send"));
  CHECK(good.recv_exact(7, 3000) == "one,two");  // host->send from the handler, in order
  CHECK(contains(host.log(), "exception in on_message: boom requested"));
}

TEST_CASE("a module built against the frozen v1 SDK headers loads and serves") {
  ModuleDir dir{"raw", "v1_module"};
  HostProcess host(GEV_HOST_PATH, args(dir, "raw", "v1_echo"));
  REQUIRE_MESSAGE(host.listening(), host.log());
  TestClient c(host.port());
  REQUIRE(c.send_all("hello"));
  CHECK(c.recv_exact(8, 3000) == "v1:hello");
}

TEST_CASE("a protocol that consumes more than it was given costs only that connection") {
  ModuleDir dir{"overconsume", "echo"};
  HostProcess host(GEV_HOST_PATH, args(dir, "overconsume", "echo"));
  REQUIRE_MESSAGE(host.listening(), host.log());
  TestClient good(host.port());
  TestClient bad(host.port());
  REQUIRE(good.echo("fine") == "fine");
  REQUIRE(bad.send_all("bad"));
  CHECK(bad.wait_closed(3000));
  CHECK(good.echo("still fine") == "still fine");
  CHECK(contains(host.log(), "protocol consumed more input than it was given"));
}
