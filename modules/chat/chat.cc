// chat: one chat room over the `websocket` protocol module. Every text message a member
// sends goes to every member, on every loop (the sender too). GET / serves a
// self-contained page (modules/chat/page.html, embedded at build time) that joins the
// room at ws://<same host>/ws.
//
//   --module-opt chat.max_message_len=4096  longer text closes that member with 1009
//   --module-opt chat.announce=1            "* #ID joined (N online)" / "* #ID left ..."
//
// Only the upgrade on /ws joins; other paths get 404. A binary message closes with 1003
// (the room is text). Fan-out without locks in the module: see room.h.
//
// A reload that replaces chat.so moves every member to the new instance (live
// migration, kAdopts): conn_export takes the member out of the old room, conn_import puts
// it in the new one, silently. A message the old instance relays at the instant of the
// swap reaches the members it still holds.
#include <gev/sdk/cpp/module.h>
#include <gev/sdk/cpp/websocket.h>

#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "chat_page.h"  // generated: kChatPage
#include "room.h"

namespace {

#ifndef CHAT_TAG
#define CHAT_TAG ""  // a test build marks what it relays, to tell builds apart
#endif
constexpr const char* kName = "chat";
constexpr std::string_view kHtml = "text/html; charset=utf-8";

class Chat : public gev::sdk::Handler {
 public:
  explicit Chat(const gev::sdk::Config& cfg)
      : too_long_(gev::sdk::ws::close_payload(GEV_WS_CLOSE_TOO_BIG, "message too long")),
        text_only_(gev::sdk::ws::close_payload(GEV_WS_CLOSE_UNSUPPORTED, "text only")) {
    cfg.allow_only({"max_message_len", "announce"});
    max_len_ = cfg.get_uint("max_message_len", 4096);
    if (max_len_ == 0) throw std::invalid_argument("chat.max_message_len must be at least 1");
    uint64_t announce = cfg.get_uint("announce", 1);
    if (announce > 1) throw std::invalid_argument("chat.announce must be 0 or 1");
    announce_ = announce == 1;
  }

  gev_status loop_init(gev_loop* loop) override {
    return room_.attach(loop) ? GEV_OK : GEV_ERR_MODULE;
  }
  void loop_fini(gev_loop* loop) override { room_.detach(loop); }

  gev_status on_message(gev::sdk::Conn c, const gev_frame& msg, gev_frame& reply) override {
    switch (msg.type) {
      case GEV_WS_HTTP:
        return page(msg, reply);
      case GEV_WS_OPEN:
        return open(c, msg, reply);
      case GEV_WS_TEXT:
        if (msg.data.len > max_len_) return close_with(reply, too_long_);
        if (msg.data.len > 0) room_.broadcast(CHAT_TAG + std::string(gev::sdk::view(msg.data)));
        return GEV_OK;
      default:  // GEV_WS_BINARY: this room is text
        return close_with(reply, text_only_);
    }
  }

  static constexpr bool kAdopts = true;
  // A member leaves this instance's room without a word...
  gev_status conn_export(gev::sdk::Conn c, gev::sdk::Writer& w) override {
    if (!c.context()) return GEV_OK;  // not a member (a page fetch, a handshake under way)
    room_.leave(c);
    online_.fetch_sub(1, std::memory_order_relaxed);
    static constexpr uint8_t kMember[] = {'m'};
    return w.append(std::span<const uint8_t>(kMember));
  }
  // ... and joins the new instance's.
  gev_status conn_import(gev::sdk::Conn c, gev_bytes state) override {
    if (state.len == 0) return GEV_OK;
    chat::Loop* loop = room_.find(c.loop());
    if (!loop) return GEV_ERR_MODULE;
    room_.join(*loop, c);
    online_.fetch_add(1, std::memory_order_relaxed);
    return GEV_OK;
  }

  void on_close(gev::sdk::Conn c) override {
    auto* m = static_cast<chat::Member*>(c.context());
    if (!m) return;  // never joined (a page fetch, a refused upgrade)
    uint64_t id = m->id;
    room_.leave(c);
    uint64_t now = online_.fetch_sub(1, std::memory_order_relaxed) - 1;
    if (announce_) room_.broadcast(notice(id, "left", now));
  }

 private:
  // GET / (or /index.html): the page. Anything else: 404. Bodies are module constants.
  static gev_status page(const gev_frame& msg, gev_frame& reply) {
    gev::sdk::ws::Request req(msg);
    if (req.path() == "/" || req.path() == "/index.html")
      return gev::sdk::ws::respond(reply, 200, kChatPage, kHtml);
    return gev::sdk::ws::respond(reply, 404, "not found: the chat page is at /\n");
  }

  gev_status open(gev::sdk::Conn c, const gev_frame& msg, gev_frame& reply) {
    gev::sdk::ws::Request req(msg);
    if (req.path() != "/ws")
      return gev::sdk::ws::respond(reply, 404, "no such room: the chat is at /ws\n");
    chat::Loop* loop = room_.find(c.loop());
    if (!loop) {  // loop_init failed or has not run: cannot serve this connection
      gev::sdk::log(GEV_LOG_WARN, kName, "no room state on this loop: refusing an upgrade");
      return gev::sdk::ws::respond(reply, 503, "chat unavailable\n");
    }
    room_.join(*loop, c);
    uint64_t now = online_.fetch_add(1, std::memory_order_relaxed) + 1;
    if (announce_) room_.broadcast(notice(c.id(), "joined", now));
    return GEV_OK;
  }

  // Sends a close frame with `payload` (module state: outlives the call); the protocol
  // module finishes the close handshake, then on_close follows.
  static gev_status close_with(gev_frame& reply, const std::string& payload) {
    reply.type = GEV_WS_CLOSE;
    reply.data = gev::sdk::bytes(std::string_view(payload));
    return GEV_OK;
  }

  static std::string notice(uint64_t id, const char* what, uint64_t online) {
    return "* #" + std::to_string(id) + " " + what + " (" + std::to_string(online) + " online)";
  }

  chat::Room room_;
  uint64_t max_len_ = 0;
  bool announce_ = true;
  std::atomic<uint64_t> online_{0};
  const std::string too_long_;
  const std::string text_only_;
};

}  // namespace

GEV_HANDLER_MODULE(Chat, "chat", "1.0.0")
