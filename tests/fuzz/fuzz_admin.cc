// fuzz_admin: the admin endpoint's HTTP (host/src/admin_http.cc) on arbitrary input, as
// a connection would feed it: heads cut off one after another (pipelined), each routed
// under settings taken from the first byte. Checks what a client relies on: a head ends
// with its blank line and fits the limit; every answer is well-formed HTTP/1.1 whose
// Content-Length is its body's (none after HEAD); a reload is granted only with the
// token (or on a unix socket), never on a reserved slot, and never over TCP without a
// token configured.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "admin_http.h"

namespace admin = gev::host::admin;

namespace {
void require(bool ok, const char* what, std::string_view head) {
  if (ok) return;
  std::fprintf(stderr, "fuzz_admin: %s\nhead: %.*s\n", what, static_cast<int>(head.size()),
               head.data());
  std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  admin::View v;
  v.unix_socket = flags & 1;
  v.token = (flags & 2) ? "s3cret" : "";
  v.reserve = flags & 4;
  v.can_reload = !(flags & 8);
  v.health = (flags >> 4) & 3;
  v.close = flags & 64;
  for (int round = 0; round < 64 && !in.empty(); ++round) {
    size_t n = admin::head_size(in);
    if (n == 0) {
      require(in.size() < admin::kMaxHead, "need more past the limit", in);
      break;
    }
    if (n == admin::kHeadTooLarge) {
      require(in.size() >= admin::kMaxHead, "too large under the limit", in);
      break;
    }
    require(n <= in.size() && n <= admin::kMaxHead, "head past the input or the limit", in);
    std::string_view head = in.substr(0, n - 2);  // through its last header's CRLF
    require(in.substr(n - 4, 4) == "\r\n\r\n", "head without its blank line", in);
    admin::Answer a = admin::route(head, v);
    if (a.kind == admin::Answer::kReload) {
      require(v.can_reload && !v.reserve, "reload on a reserved slot or without /reload", head);
      require(v.unix_socket || !v.token.empty(), "reload over TCP without a token", head);
      require(v.unix_socket || head.find("Bearer s3cret") != std::string_view::npos,
              "reload without the token", head);
      require(head.starts_with("POST "), "reload by another method", head);
    }
    if (a.kind == admin::Answer::kMetrics) require(!v.reserve, "metrics on a reserved slot", head);
    if (a.kind == admin::Answer::kMetrics) a.body = "gev_generation 1\n";
    if (a.kind != admin::Answer::kReload) {
      std::string wire = admin::render(a);
      std::string status = "HTTP/1.1 " + std::to_string(a.status) + " ";
      require(wire.starts_with(status), "status line", head);
      require(wire.find("Content-Length: " + std::to_string(a.body.size()) + "\r\n") !=
                  std::string::npos,
              "Content-Length", head);
      size_t end = wire.find("\r\n\r\n");
      require(end != std::string::npos, "answer head without its blank line", head);
      require(wire.size() - end - 4 == (a.head ? 0 : a.body.size()), "body length", head);
      require(a.status == 200 || a.status == 400 || a.status == 401 || a.status == 403 ||
                  a.status == 404 || a.status == 405 || a.status == 503,
              "unexpected status", head);
      if (a.status == 400) require(a.close, "a malformed request that keeps going", head);
    }
    if (a.close) break;  // nothing after it is read
    in.remove_prefix(n);
  }
  return 0;
}
