// The admin endpoint's HTTP, as pure functions of the request bytes (no connection, no
// loop): where a head ends, what a request asks for and what it is answered. The
// endpoint (admin.h) acts on the answer; tests/fuzz drives these directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gev::host::admin {

inline constexpr size_t kMaxHead = 8192;
inline constexpr size_t kHeadTooLarge = SIZE_MAX;

// The size of the request head at the front of `in` (through its blank line), 0 if it
// has not all arrived, kHeadTooLarge if it cannot fit in kMaxHead.
size_t head_size(std::string_view in);

// What the endpoint knows besides the request.
struct View {
  bool unix_socket = false;  // served on a unix socket: no Host/Origin check, no token
  std::string_view token;    // empty: POST /reload over TCP is refused
  bool reserve = false;      // a reserved slot: /healthz and /readyz only
  bool can_reload = true;    // POST /reload exists
  int health = 0;            // 0 starting, 1 serving, 2 stopping, 3 draining
  bool close = false;        // close after this answer whatever the request says
};

struct Answer {
  enum Kind { kText, kMetrics, kReload } kind = kText;  // metrics and reload: the endpoint's
  int status = 200;
  const char* reason = "OK";
  std::string body;
  std::string extra;  // header lines, each with its CRLF
  bool close = false;
  bool head = false;  // a HEAD request: the answer carries no body
  enum Count { kNone, kForbidden, kRefused } count = kNone;
  std::string log;  // a line for the log (info), if any
};

// The answer to the complete request head `head` (through the CRLF of its last header).
Answer route(std::string_view head, const View& v);
// The answer on the wire (kText; a kMetrics answer once `body` holds the page).
std::string render(const Answer& a, std::string_view content_type = "text/plain");

// Pieces, exposed for the tests.
std::optional<std::string_view> header(std::string_view head, std::string_view name);
bool lists(std::string_view value, std::string_view token);
bool own_authority(std::string_view authority);
bool same_secret(std::string_view a, std::string_view b);

}  // namespace gev::host::admin
