// gev-host's option and config errors, as a newcomer meets them: each names what is
// wrong where it is written, exits 2 before anything loads or listens, and nothing is
// said twice.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "host_fixture.h"
#include "host_process.h"
#include "test_client.h"

using namespace gev::test;
namespace fs = std::filesystem;

namespace {
fs::path write_conf(const ModuleDir& dir, const std::string& text) {
  fs::path p = dir.path / "host.conf";
  std::ofstream(p, std::ios::trunc) << text;
  return p;
}
}  // namespace

TEST_CASE("a --listen that is not an address is an option error, before any module loads") {
  ModuleDir dir{"raw", "echo"};
  for (const char* bad : {"127.0.0.1:99999", "nohost", "127.0.0.1:", "300.1.1.1:80"}) {
    CAPTURE(bad);
    std::vector<std::string> a = args(dir, "raw", "echo");
    a[3] = bad;  // --listen's value
    HostProcess host(GEV_HOST_PATH, a);
    CHECK(host.wait_exit() == 2);
    const std::string& log = host.log();
    INFO(log);
    CHECK(contains(log, "gev-host: --listen: '" + std::string(bad) + "' is not HOST:PORT"));
    CHECK_FALSE(contains(log, "gev: "));
    CHECK_FALSE(contains(log, "loaded module"));
  }
  // The same in a config file, with its line.
  fs::path conf = write_conf(dir,
                             "loops = 1\n[listener.web]\nprotocol = raw\n\nlisten = nohost:80\n"
                             "handler = echo\n");
  HostProcess host(GEV_HOST_PATH, {"--config", conf.string(), "--module-dir", dir.path.string()});
  CHECK(host.wait_exit() == 2);
  CHECK_MESSAGE(contains(host.log(), conf.string() + ":5: [listener.web] listen: 'nohost:80'"),
                host.log());
}

TEST_CASE("a --module-opt for a module that is not there is an option error") {
  ModuleDir dir{"raw", "echo"};
  HostProcess host(GEV_HOST_PATH, args(dir, "raw", "echo", {"--module-opt", "ecko.greeting=hi"}));
  CHECK(host.wait_exit() == 2);
  const std::string& log = host.log();
  INFO(log);
  CHECK(contains(log, "options for module 'ecko' (--module-opt ecko.greeting=..."));
  CHECK(contains(log, "no module is named 'ecko' in " + dir.path.string() + " (there: echo, raw)"));
  CHECK_FALSE(contains(log, "listening on"));
}

TEST_CASE("a typo in a module's option ends the log with the module's own reason") {
  ModuleDir dir{"line", "echo"};
  fs::path conf = write_conf(dir,
                             "[listener.a]\nlisten = 127.0.0.1:0\nprotocol = line\nhandler = echo\n"
                             "[module.line]\ndelimitr = x\n");
  HostProcess host(GEV_HOST_PATH, {"--config", conf.string(), "--module-dir", dir.path.string(),
                                   "--admin", "off"});
  CHECK(host.wait_exit() == 1);
  std::string log = host.log();
  while (!log.empty() && log.back() == '\n') log.pop_back();
  std::string last = log.substr(log.rfind('\n') + 1);
  INFO(log);
  CHECK(last.rfind("gev-host: refused module " + (dir.path / "line.so").string(), 0) == 0);
  CHECK(contains(last, "unknown option line.delimitr (known: delimiter, max_length)"));
  CHECK(contains(last, "(listener 'a' needs 'line' as its protocol)"));
  CHECK_FALSE(contains(log, "no protocol module named"));
}

TEST_CASE("a top-level option written after a [section] is an error naming its line") {
  ModuleDir dir{"raw", "echo"};
  const std::string text =
      "loops = 1\n[listener.a]\nlisten = 127.0.0.1:0\nprotocol = raw\nhandler = echo\n"
      "# the admin, at last\nadmin = off\n";
  fs::path conf = write_conf(dir, text);
  HostProcess host(GEV_HOST_PATH, {"--config", conf.string(), "--module-dir", dir.path.string()});
  CHECK(host.wait_exit() == 2);
  CHECK_MESSAGE(contains(host.log(), conf.string() +
                                         ":7: 'admin' is a top-level option, but it is written "
                                         "in [listener.a]: top-level options go before the "
                                         "first [section]"),
                host.log());

  // In a [module.NAME] section it may be the module's own option: a warning naming the
  // line, and the module has its say (echo ignores options it does not know).
  conf = write_conf(dir, "[module.echo]\nadmin = off\n");
  HostProcess mod(GEV_HOST_PATH, args(dir, "raw", "echo", {"--config", conf.string()}));
  REQUIRE_MESSAGE(mod.listening(), mod.log());
  CHECK_MESSAGE(contains(mod.log(), conf.string() + ":2: 'admin' in [module.echo] goes to the "
                                                    "module; if it is meant as gev-host's"),
                mod.log());
}

TEST_CASE("a config value in double quotes keeps its spaces") {
  ModuleDir dir{"raw", "prefix_echo"};
  fs::path conf = write_conf(dir,
                             "admin = off\n[listener.a]\nlisten = 127.0.0.1:0\nprotocol = raw\n"
                             "handler = prefix_echo\n[module.prefix_echo]\nprefix = \"  > \"\n");
  HostProcess host(GEV_HOST_PATH, {"--config", conf.string(), "--module-dir", dir.path.string()});
  REQUIRE_MESSAGE(host.listening(), host.log());
  TestClient c(host.port());
  REQUIRE(c.send_all("x"));
  CHECK(c.recv_exact(5, 5000) == "  > x");
}

TEST_CASE("a relative tls-* path in a config file is relative to the file's directory") {
  ModuleDir dir{"raw", "echo"};
  fs::path conf = write_conf(dir,
                             "admin = off\n[listener.a]\nlisten = 127.0.0.1:0\nprotocol = raw\n"
                             "handler = echo\ntls-cert = certs/a.pem\ntls-key = certs/a.key\n");
  // Run from elsewhere: the file is looked for beside the config, not in the cwd.
  HostProcess host(GEV_HOST_PATH, {"--config", conf.string(), "--module-dir", dir.path.string()});
  CHECK(host.wait_exit() == 2);
  fs::path want = fs::absolute(conf).parent_path() / "certs" / "a.pem";
  CHECK_MESSAGE(contains(host.log(), want.string()), host.log());

  // The same for the top-level keys (the command line's listener).
  conf = write_conf(dir, "admin = off\nlisten = 127.0.0.1:0\nprotocol = raw\nhandler = echo\n"
                         "tls-cert = certs/top.pem\ntls-key = certs/top.key\n");
  HostProcess top(GEV_HOST_PATH, {"--config", conf.string(), "--module-dir", dir.path.string()});
  CHECK(top.wait_exit() == 2);
  want = fs::absolute(conf).parent_path() / "certs" / "top.pem";
  CHECK_MESSAGE(contains(top.log(), want.string()), top.log());
}

TEST_CASE("tls-ticket-rotation above 7 days is refused, naming the key") {
  ModuleDir dir{"raw", "echo"};
  fs::path conf = write_conf(dir,
                             "admin = off\n[listener.a]\nlisten = 127.0.0.1:0\nprotocol = raw\n"
                             "handler = echo\ntls-ticket-rotation = 9223372036854775808\n");
  HostProcess host(GEV_HOST_PATH, {"--config", conf.string(), "--module-dir", dir.path.string()});
  CHECK(host.wait_exit() == 2);
  CHECK_MESSAGE(contains(host.log(), "listener.a.tls-ticket-rotation' = 9223372036854775808: at "
                                     "most 604800 s (7 days)"),
                host.log());
}

TEST_CASE("the log names each listener as it listens and stops, and the admin as the admin") {
  ModuleDir dir{"raw", "echo"};
  fs::path conf = write_conf(dir,
                             "admin = 127.0.0.1:0\n[listener.one]\nlisten = 127.0.0.1:0\n"
                             "protocol = raw\nhandler = echo\n[listener.two]\n"
                             "listen = 127.0.0.1:0\nprotocol = raw\nhandler = echo\n");
  HostProcess host(GEV_HOST_PATH, {"--config", conf.string(), "--module-dir", dir.path.string()},
                   10000, 3);
  REQUIRE_MESSAGE(host.listening(), host.log());
  host.terminate();
  CHECK(host.wait_exit() == 0);
  const std::string& log = host.log();
  INFO(log);
  for (const char* who : {"listener one", "listener two", "admin"}) {
    CAPTURE(who);
    CHECK(contains(log, std::string(who) + ": listening on 127.0.0.1:"));
    CHECK(contains(log, std::string(who) + ": stopping 127.0.0.1:"));
    CHECK(contains(log, std::string(who) + ": stopped 127.0.0.1:"));
  }
}
