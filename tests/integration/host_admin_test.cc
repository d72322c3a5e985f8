// gev-host's config file (several listeners) and admin endpoint (/metrics, /healthz).
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "admin_http.h"
#include "host_fixture.h"
#include "host_process.h"
#include "test_client.h"

using namespace gev::test;
namespace fs = std::filesystem;

namespace {

std::string http_get(uint16_t port, const std::string& path) {
  return http(port, "GET", path, "", 3000);
}

}  // namespace

TEST_CASE("a config file declares several listeners; the admin endpoint reports them") {
  ModuleDir dir{"raw", "echo", "thrower"};
  fs::path conf = dir.path / "host.conf";
  {
    std::ofstream f(conf);
    f << "loops = 2\n"
         "admin = 127.0.0.1:0\n"
         "module-dir = "
      << dir.path.string()
      << "\n"
         "[listener.plain]\n"
         "listen = 127.0.0.1:0\n"
         "protocol = raw\n"
         "handler = echo\n"
         "[listener.picky]\n"
         "listen = 127.0.0.1:0\n"
         "protocol = raw\n"
         "handler = thrower\n"
         "max-connections = 5\n";
  }
  HostProcess host(GEV_HOST_PATH, {"--config", conf.string()}, 10000, 3);
  REQUIRE_MESSAGE(host.listening(), host.log());
  uint16_t plain = host.port(0), picky = host.port(1), admin = host.port(2);
  TestClient a(plain);
  TestClient b(picky);
  CHECK(a.echo("hello") == "hello");
  CHECK(b.echo("world") == "world");
  TestClient boom(picky);
  REQUIRE(boom.send_all("boom"));
  CHECK(boom.wait_closed(3000));

  std::string health = http_get(admin, "/healthz");
  CHECK(health.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(health.ends_with("\r\n\r\nok\n"));

  std::string metrics = http_get(admin, "/metrics");
  INFO(metrics);
  CHECK(metrics.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(contains(metrics, "Content-Type: text/plain; version=0.0.4"));
  CHECK(contains(metrics, "gev_connections_open{listener=\"plain\"} 1\n"));
  CHECK(contains(metrics, "gev_connections_accepted_total{listener=\"picky\"} 2\n"));
  CHECK(contains(metrics, "gev_connections_closed_total{listener=\"picky\",reason=\"local\"} 1\n"));
  CHECK(contains(metrics, "gev_bytes_received_total{listener=\"plain\"} 5\n"));
  CHECK(contains(metrics, "gev_modules_loaded 3\n"));
  CHECK(contains(metrics, "# TYPE gev_messages_sent_total counter\n"));
  CHECK(contains(metrics, "gev_loop_lag_seconds{loop=\"1\"} "));
  CHECK(contains(metrics, "gev_output_buffered_bytes{listener=\"plain\"} 0\n"));
  CHECK(contains(http_get(admin, "/nope"), "404 Not Found"));
  {  // HEAD: the headers of GET, no body
    TestClient c(admin);
    c.send_all("HEAD /healthz HTTP/1.1\r\nHost: localhost:" + std::to_string(admin) +
               "\r\nConnection: close\r\n\r\n");
    std::string head = c.recv_until_eof(3000);
    CHECK(contains(head, "Content-Length: 3\r\n"));
    CHECK(head.ends_with("\r\n\r\n"));
  }

  // The body parses with the Prometheus project's own parser (Debian's
  // python3-prometheus-client, which belongs to /usr/bin/python3).
  fs::path body = dir.path / "metrics.txt";
  { std::ofstream(body) << metrics.substr(metrics.find("\r\n\r\n") + 4); }
  fs::path script = dir.path / "parse.py";
  {
    std::ofstream(script)
        << "import sys\n"
           "from prometheus_client.parser import text_string_to_metric_families\n"
           "fams = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}\n"
           "assert fams['gev_connections_open'].type == 'gauge', fams.keys()\n"
           "assert fams['gev_connections_accepted'].type == 'counter'\n"
           "samples = [s for s in fams['gev_connections_open'].samples if s.labels.get('listener') == "
           "'plain']\n"
           "assert samples[0].value == 1, samples\n"
           "print('parsed', len(fams), 'families')\n";
  }
  std::string cmd = "/usr/bin/python3 " + script.string() + " " + body.string();
  CHECK(std::system(cmd.c_str()) == 0);
}

TEST_CASE("a bad config line is reported with the file and the option before anything listens") {
  ModuleDir dir{"raw", "echo"};
  fs::path conf = dir.path / "bad.conf";
  { std::ofstream(conf) << "[listener.x]\nlisten = 127.0.0.1:0\nprotocl = raw\n"; }
  HostProcess host(GEV_HOST_PATH, {"--config", conf.string(), "--module-dir", dir.path.string()});
  CHECK_FALSE(host.listening());
  CHECK(host.wait_exit() == 2);
  CHECK(contains(host.log(), conf.string() + ":3: unknown option 'listener.x.protocl'"));

  { std::ofstream(conf) << "loops = lots\n"; }
  HostProcess host2(GEV_HOST_PATH, {"--config", conf.string()});
  CHECK(host2.wait_exit() == 2);
  CHECK(contains(host2.log(), conf.string()));
  CHECK(contains(host2.log(), "loops"));
}
