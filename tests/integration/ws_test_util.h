// Shared pieces of the websocket module tests: a gev-host serving websocket + echo on
// 127.0.0.1, frame shorthands and the "host still serves a fresh connection" check.
// Test names follow Autobahn|Testsuite's groups: "ws <group>.<case> ..." so that
// `gev-host-tests -tc="ws *"` runs them all and `-tc="ws 6.*"` one group.
#pragma once

#include <doctest/doctest.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "host_fixture.h"
#include "host_process.h"
#include "ws_client.h"

namespace gev::test::ws {

// gev-host with the websocket protocol and the echo handler; `opts` are websocket
// module options ("max_message=65536" becomes --module-opt websocket.max_message=65536).
class WsHost {
 public:
  explicit WsHost(std::vector<std::string> opts = {}) {
    // GEV_WS_EXTERNAL_PORT runs the cases against another server already listening on
    // 127.0.0.1 (e.g. a reference implementation), to tell client bugs from server bugs.
    if (const char* p = std::getenv("GEV_WS_EXTERNAL_PORT")) {
      external_port_ = static_cast<uint16_t>(std::atoi(p));
      return;
    }
    dir_ = std::make_unique<ModuleDir>(std::initializer_list<std::string>{"websocket", "echo"});
    std::vector<std::string> extra;
    for (const std::string& o : opts) {
      extra.push_back("--module-opt");
      extra.push_back("websocket." + o);
    }
    host_ = std::make_unique<HostProcess>(GEV_HOST_PATH, args(*dir_, "websocket", "echo", extra));
    REQUIRE_MESSAGE(host_->listening(), "gev-host did not start: " << host_->log());
  }
  ~WsHost() {
    if (host_ && check_exit_) check_clean_exit();
  }
  // Stops the host and checks the graceful stop exited 0: in sanitizer builds a memory
  // error or a leak in the module shows up in the host's exit status and log.
  void check_clean_exit() {
    if (!host_) return;
    host_->terminate();
    const std::string& log = host_->log();
    const std::string tail = log.size() > 4000 ? log.substr(log.size() - 4000) : log;
    CHECK_MESSAGE(host_->wait_exit(0) == 0, "gev-host exit status " << host_->wait_exit(0)
                                                                    << "; log tail:\n"
                                                                    << tail);
    CHECK_MESSAGE(!contains(log, "Sanitizer"), "sanitizer report in gev-host's log:\n" << tail);
    host_.reset();
  }

  // The default-options host that the cases needing no options share: starting gev-host
  // costs ~150 ms under ASan, and seventy starts would dominate the suite. Restarted if
  // an earlier case killed it (that case's still_serves() fails). The last case of the
  // run ("ws zz ...") stops it with check_clean_exit(); a static destructor may not check.
  static WsHost& shared() {
    std::unique_ptr<WsHost>& h = shared_slot();
    if (h && h->host_ && h->host_->wait_exit(0) >= 0) h->check_clean_exit();
    if (!h || (!h->host_ && !h->external_port_)) {
      h.reset();
      h = std::make_unique<WsHost>();
      h->check_exit_ = false;
    }
    return *h;
  }
  static void stop_shared() {
    if (shared_slot()) shared_slot()->check_clean_exit();
  }

  WsHost(const WsHost&) = delete;
  WsHost& operator=(const WsHost&) = delete;

  uint16_t port() { return host_ ? host_->port() : external_port_; }
  // A connected client; drains the host's log pipe first so a chatty host never blocks.
  std::unique_ptr<WsClient> client() {
    if (host_) host_->log();
    auto c = std::make_unique<WsClient>(port());
    REQUIRE_MESSAGE(c->connected(), "connect failed; host log: " << log());
    return c;
  }
  // A client past a successful handshake `h`.
  std::unique_ptr<WsClient> open(const Handshake& h = {}) {
    auto c = client();
    c->open(h);
    return c;
  }
  // After an error on another connection, a fresh one still handshakes and echoes.
  void still_serves() {
    auto c = open();
    c->expect_echo(kText, "still serving");
    if (host_) CHECK_MESSAGE(host_->wait_exit(0) < 0, "gev-host exited: " << log());
  }
  std::string log() { return host_ ? host_->log() : std::string(); }

 private:
  static std::unique_ptr<WsHost>& shared_slot() {
    static std::unique_ptr<WsHost> slot;
    return slot;
  }

  std::unique_ptr<ModuleDir> dir_;
  bool check_exit_ = true;
  std::unique_ptr<HostProcess> host_;
  uint16_t external_port_ = 0;
};

inline Frame frame(uint8_t opcode, std::string_view payload, bool fin = true) {
  Frame f;
  f.opcode = opcode;
  f.payload = std::string(payload);
  f.fin = fin;
  return f;
}

// `data` cut into `n` fragments of near-equal size (some may be empty when n > size):
// the first with `opcode`, the rest continuations, FIN on the last.
inline std::string fragments(uint8_t opcode, std::string_view data, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    const size_t from = data.size() * i / n, to = data.size() * (i + 1) / n;
    out += encode(frame(i == 0 ? opcode : kContinuation, data.substr(from, to - from), i + 1 == n));
  }
  return out;
}

// Sends `bytes` (which must make the server fail the connection) after a good message,
// and checks the good one is echoed, then the close with `code`, then that the host
// still serves others.
inline void expect_failure(WsHost& host, std::string_view bytes, uint16_t code,
                           bool echo_first = true) {
  auto c = host.open();
  std::string all = echo_first ? c->message_bytes(kText, "before") : std::string();
  c->send_raw(all + std::string(bytes));
  if (echo_first) c->expect_message(kText, "before");
  c->expect_close(code);
}

// permessage-deflate shorthands shared by the compression cases (groups 12 and 13).
inline Handshake offer(std::string extensions) {
  Handshake h;
  h.extensions = std::move(extensions);
  return h;
}

// Compressible text: words from a small vocabulary.
inline std::string words(size_t n, uint32_t seed) {
  static const char* kWords[] = {"alpha ", "beta ", "gamma ", "delta ", "echo ", "gev "};
  std::string s;
  while (s.size() < n) {
    seed = seed * 1103515245u + 12345u;
    s += kWords[(seed >> 16) % 6];
  }
  s.resize(n);
  return s;
}

// True when the response accepted permessage-deflate.
inline bool accepted(const HttpResponse& r) {
  auto ext = r.header("Sec-WebSocket-Extensions");
  return ext && ext->find("permessage-deflate") != std::string::npos;
}

}  // namespace gev::test::ws
