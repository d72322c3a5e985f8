// The admin endpoint's HTTP as pure functions: head boundaries, header parsing, the
// Host/Origin rule, the token, and what each request is answered.
#include <doctest/doctest.h>

#include <string>

#include "admin_http.h"

namespace admin = gev::host::admin;

namespace {
admin::Answer ask(const std::string& head, admin::View v = {}) {
  return admin::route(head, v);
}
admin::View serving() {
  admin::View v;
  v.health = 1;
  return v;
}
}  // namespace

TEST_CASE("admin http: a head ends at its blank line and fits 8 KiB") {
  CHECK(admin::head_size("GET / HTTP/1.1\r\nHost: a\r\n") == 0);
  CHECK(admin::head_size("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET") == 27);
  CHECK(admin::head_size(std::string(8191, 'a')) == 0);
  CHECK(admin::head_size(std::string(8192, 'a')) == admin::kHeadTooLarge);
  std::string big = "GET / HTTP/1.1\r\nX: " + std::string(8200, 'a') + "\r\n\r\n";
  CHECK(admin::head_size(big) == admin::kHeadTooLarge);
}

TEST_CASE("admin http: headers, token lists, authorities, secrets") {
  std::string head = "GET / HTTP/1.1\r\nHost:  127.0.0.1:9091 \r\nConnection: Keep-Alive, Close\r\n";
  CHECK(admin::header(head, "host") == "127.0.0.1:9091");
  CHECK_FALSE(admin::header(head, "origin"));
  CHECK(admin::lists("Keep-Alive, Close", "close"));
  CHECK_FALSE(admin::lists("closed", "close"));
  CHECK(admin::own_authority("127.0.0.1:9091"));
  CHECK(admin::own_authority("[::1]:19091"));
  CHECK(admin::own_authority("LOCALHOST"));
  CHECK(admin::own_authority("10.1.2.3"));
  CHECK_FALSE(admin::own_authority("evil.example:9091"));
  CHECK_FALSE(admin::own_authority("127.0.0.1:x"));
  CHECK_FALSE(admin::own_authority("[::1"));
  CHECK(admin::same_secret("abc", "abc"));
  CHECK_FALSE(admin::same_secret("abc", "abd"));
  CHECK_FALSE(admin::same_secret("abc", "abcd"));
  CHECK_FALSE(admin::same_secret("", "a"));
}

TEST_CASE("admin http: what each request is answered") {
  CHECK(ask("GET /healthz HTTP/1.1\r\nHost: a\r\n", serving()).status == 200);
  CHECK(ask("GET /healthz HTTP/1.0\r\n", serving()).close);  // 1.0: close unless keep-alive
  CHECK_FALSE(ask("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n", serving()).close);
  CHECK(ask("GET /healthz HTTP/1.1\r\n", serving()).status == 400);  // 1.1 needs a Host
  admin::View stopping = serving();
  stopping.health = 2;
  admin::Answer h = ask("GET /healthz HTTP/1.0\r\n", stopping);
  CHECK(h.status == 503);
  CHECK(h.body == "stopping\n");
  CHECK(ask("GET /readyz HTTP/1.0\r\n", admin::View{}).status == 503);  // starting
  CHECK(ask("GET /metrics HTTP/1.0\r\n", serving()).kind == admin::Answer::kMetrics);
  admin::Answer head = ask("HEAD /nope HTTP/1.1\r\nHost: a\r\n", serving());
  CHECK(head.status == 404);
  CHECK(admin::render(head).ends_with("\r\n\r\n"));  // HEAD: no body, even on an error
  CHECK(ask("DELETE /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n", serving()).status == 405);
  CHECK(ask("DELETE /metrics HTTP/1.1\r\nHost: a\r\n", serving()).status == 403);  // by name
}

TEST_CASE("admin http: POST /reload needs the token over TCP, by address, from no foreign page") {
  admin::View tcp = serving();
  const std::string post = "POST /reload HTTP/1.1\r\nHost: 127.0.0.1:9091\r\n";
  CHECK(ask(post + "Authorization: Bearer t\r\n", tcp).status == 403);  // no token set
  tcp.token = "t";
  CHECK(ask(post, tcp).status == 401);
  CHECK(ask(post + "Authorization: Bearer u\r\n", tcp).status == 401);
  CHECK(ask(post + "Authorization: Bearer t\r\n", tcp).kind == admin::Answer::kReload);
  CHECK(ask("POST /reload HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer t\r\n", tcp)
            .status == 403);
  CHECK(ask(post + "Authorization: Bearer t\r\nOrigin: http://evil.example\r\n", tcp).status ==
        403);
  CHECK(ask(post + "Authorization: Bearer t\r\nOrigin: http://127.0.0.1:9091\r\n", tcp).kind ==
        admin::Answer::kReload);
  CHECK(ask(post + "Authorization: Bearer t\r\nContent-Length: 2\r\n", tcp).status == 400);
  admin::View unix_socket = serving();
  unix_socket.unix_socket = true;
  CHECK(ask("POST /reload HTTP/1.1\r\nHost: whatever\r\n", unix_socket).kind ==
        admin::Answer::kReload);
  admin::View reserved = tcp;
  reserved.reserve = true;
  CHECK(ask(post + "Authorization: Bearer t\r\n", reserved).status == 503);
  CHECK(ask("GET /healthz HTTP/1.0\r\n", reserved).status == 200);
}
