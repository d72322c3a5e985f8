// chat: one chat room over the `websocket` protocol module. Every text message a member
// sends goes to every member, on every loop (the sender too). GET / serves a
// self-contained page (modules/chat/page.html, embedded at build time) that joins the
// room at ws://<same host>/ws.
//
//   --module-opt chat.max_message_len=4096  longer text closes that member with 1009
//   --module-opt chat.announce=1            "* #ID joined (N online)" / "* #ID left ..."
//
// A member may give a name on the upgrade, /ws?name=alice (percent-encoded UTF-8, at
// most 64 bytes are kept, control characters dropped): its notices then read
// "* alice (#ID) joined (N online)". The name is only for the notices; messages are
// whatever text the member sends (the page writes "name: text").
//
// Only the upgrade on /ws joins; other paths get 404. A binary message closes with 1003
// (the room is text). Fan-out without locks in the module: see room.h.
//
// A reload that replaces chat.so moves every member to the new instance (live
// migration, kAdopts): conn_export takes the member out of the old room, conn_import puts
// it in the new one, silently. A message the old instance relays at the instant of the
// swap reaches the members it still holds. A member's name moves with it.
#include <gev/sdk/cpp/module.h>
#include <gev/sdk/cpp/websocket.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

#include "../websocket/utf8.h"  // header-only: gev::ws::Utf8Validator
#include "chat_page.h"          // generated: kChatPage
#include "room.h"

namespace {

#ifndef CHAT_TAG
#define CHAT_TAG ""  // a test build marks what it relays, to tell builds apart
#endif
constexpr const char* kName = "chat";
constexpr std::string_view kHtml = "text/html; charset=utf-8";
constexpr size_t kMaxName = 64;  // bytes of UTF-8

int hex_digit(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

// A name as the notices show it: control characters dropped, spaces trimmed, cut to
// kMaxName bytes at a character boundary; "" unless it is valid UTF-8 (a notice is a
// WebSocket text message).
std::string clean_name(std::string_view raw) {
  std::string name;
  for (char ch : raw)
    if (static_cast<unsigned char>(ch) >= 0x20 && ch != 0x7f) name += ch;
  gev::ws::Utf8Validator utf8;
  if (!utf8.feed(reinterpret_cast<const uint8_t*>(name.data()), name.size()) || !utf8.complete())
    return {};
  size_t end = name.size();
  if (end > kMaxName) {
    end = kMaxName;
    while (end > 0 && (static_cast<unsigned char>(name[end]) & 0xC0) == 0x80) --end;
  }
  size_t begin = 0;
  while (begin < end && name[begin] == ' ') ++begin;
  while (end > begin && name[end - 1] == ' ') --end;
  return name.substr(begin, end - begin);
}

// The `name` parameter of an upgrade's query string, percent-decoded ('+' is a space).
std::string query_name(std::string_view query) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (!param.starts_with("name=")) continue;
    param.remove_prefix(5);
    std::string decoded;
    for (size_t i = 0; i < param.size(); ++i) {
      int hi = param[i] == '%' && i + 2 < param.size() ? hex_digit(param[i + 1]) : -1;
      int lo = hi >= 0 ? hex_digit(param[i + 2]) : -1;
      if (lo >= 0) {
        decoded += static_cast<char>(hi * 16 + lo);
        i += 2;
      } else {
        decoded += param[i] == '+' ? ' ' : param[i];  // a stray '%' stays as it is
      }
    }
    return clean_name(decoded);
  }
  return {};
}

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
  // A member leaves this instance's room without a word ("m" and its name)...
  gev_status conn_export(gev::sdk::Conn c, gev::sdk::Writer& w) override {
    if (!c.context()) return GEV_OK;  // not a member (a page fetch, a handshake under way)
    std::string state = "m" + take_name(c.id());
    room_.leave(c);
    online_.fetch_sub(1, std::memory_order_relaxed);
    return w.append(gev::sdk::bytes(std::string_view(state)));
  }
  // ... and joins the new instance's (an older build's state is "m" alone: no name).
  gev_status conn_import(gev::sdk::Conn c, gev_bytes state) override {
    if (state.len == 0) return GEV_OK;
    chat::Loop* loop = room_.find(c.loop());
    if (!loop) return GEV_ERR_MODULE;
    room_.join(*loop, c);
    online_.fetch_add(1, std::memory_order_relaxed);
    set_name(c.id(), clean_name(gev::sdk::view(state).substr(1)));
    return GEV_OK;
  }

  void on_close(gev::sdk::Conn c) override {
    auto* m = static_cast<chat::Member*>(c.context());
    if (!m) return;  // never joined (a page fetch, a refused upgrade)
    uint64_t id = m->id;
    std::string name = take_name(id);
    room_.leave(c);
    uint64_t now = online_.fetch_sub(1, std::memory_order_relaxed) - 1;
    if (announce_) room_.broadcast(notice(id, name, "left", now));
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
    std::string name = query_name(req.query());
    set_name(c.id(), name);
    uint64_t now = online_.fetch_add(1, std::memory_order_relaxed) + 1;
    if (announce_) room_.broadcast(notice(c.id(), name, "joined", now));
    return GEV_OK;
  }

  // Sends a close frame with `payload` (module state: outlives the call); the protocol
  // module finishes the close handshake, then on_close follows.
  static gev_status close_with(gev_frame& reply, const std::string& payload) {
    reply.type = GEV_WS_CLOSE;
    reply.data = gev::sdk::bytes(std::string_view(payload));
    return GEV_OK;
  }

  // "* #ID joined (N online)", or with a name "* NAME (#ID) joined (N online)".
  static std::string notice(uint64_t id, const std::string& name, const char* what,
                            uint64_t online) {
    std::string who =
        name.empty() ? "#" + std::to_string(id) : name + " (#" + std::to_string(id) + ")";
    return "* " + who + " " + what + " (" + std::to_string(online) + " online)";
  }

  // Members' names by connection id: touched at join and leave only, from every loop,
  // hence the one lock (the fan-out itself takes none).
  void set_name(uint64_t id, std::string name) {
    if (name.empty()) return;
    std::lock_guard lock(names_mu_);
    names_[id] = std::move(name);
  }
  std::string take_name(uint64_t id) {
    std::lock_guard lock(names_mu_);
    auto it = names_.find(id);
    if (it == names_.end()) return {};
    std::string name = std::move(it->second);
    names_.erase(it);
    return name;
  }

  chat::Room room_;
  uint64_t max_len_ = 0;
  bool announce_ = true;
  std::atomic<uint64_t> online_{0};
  std::mutex names_mu_;
  std::unordered_map<uint64_t, std::string> names_;
  const std::string too_long_;
  const std::string text_only_;
};

}  // namespace

GEV_HANDLER_MODULE(Chat, "chat", "1.0.0")
